"""Writing a few fields of many customers at once."""

from collections.abc import Iterable

from django.db import connection

from identity.models import Customer


def customers_fields_write(people: Iterable[Customer], names: tuple[str, ...]) -> None:
    """One UPDATE of `names` per person, sent as one batch (executemany, pipelined on PostgreSQL):
    Django's bulk_update builds a CASE expression per row, ~1.7 ms of Python each."""
    meta = Customer._meta
    concrete = {f.name: f for f in meta.concrete_fields}
    fields = [concrete[name] for name in names]
    pk = concrete["id"]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    # Names from the model's _meta, quoted; every value is a bound parameter.
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(pk.column)} = %s"  # noqa: S608
    rows = [(*(f.get_db_prep_save(getattr(c, f.attname), connection) for f in fields), c.pk) for c in people]
    if rows:
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)
