"""The customers list as CSV: the filtered list, every row, streamed; cells guarded against
spreadsheet formulas with the privacy exports' guard."""

import csv
import io
from collections.abc import Iterator

from django.db.models import QuerySet

from identity.channels import channel_label, channels_from_text
from identity.models import Customer
from identity.privacy.exports import csv_safe
from identity.timeline import RUNG_NAMES, money

CSV_COLUMNS = [
    "id",
    "customer_number",
    "name",
    "email",
    "phone",
    "company",
    "rung",
    "first_touch",
    "first_campaign",
    "channels",
    "events",
    "revenue",
    "first_seen",
    "last_seen",
]


def _row(customer: Customer) -> list[object]:
    facts = getattr(customer, "facts", None)
    return [
        customer.pk,
        customer.customer_number or "",
        customer.name,
        customer.email,
        customer.phone,
        customer.company,
        f"{customer.rung} {RUNG_NAMES.get(customer.rung, '')}",
        channel_label(facts.first_source) if facts else "",
        facts.first_campaign if facts else "",
        " ".join(channel_label(c) for c in channels_from_text(facts.channels)) if facts else "",
        facts.event_count if facts else "",
        money(facts.revenue_minor, facts.currency or "USD", minor_units=True) if facts else "",
        customer.first_seen.isoformat(),
        customer.last_seen.isoformat(),
    ]


def customers_csv(rows: QuerySet[Customer]) -> Iterator[str]:
    """CSV text in chunks: the header, then one line per customer of `rows` (in its order)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for count, customer in enumerate(rows.iterator(chunk_size=1000), start=1):
        writer.writerow([csv_safe(value) for value in _row(customer)])
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
