"""Search the whole database (and the stored export files) for traces of a person.

The list of columns is derived from the models (`apps.get_models()` and each model's `_meta`), never
written by hand: a table or column added later is scanned too.
"""

import io
import zipfile
from collections.abc import Iterable

from django.apps import apps
from django.core.files.storage import default_storage
from django.db import models
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from identity.models import Customer

TEXT_FIELDS = (models.CharField, models.TextField, models.JSONField)
# JSON keys whose values are customer ids ("customers" is a count and not one of them).
CUSTOMER_ID_KEYS = {"customer", "customer_id", "customer_ids", "survivor_id", "merged_id", "merged_customer_id"}


def text_columns() -> list[tuple[type[models.Model], models.Field]]:
    """Every text and JSON column of every installed model."""
    return [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, TEXT_FIELDS)
    ]


def _customer_refs(value: object, customer_ids: set[int], key: str = "") -> bool:
    if isinstance(value, dict):
        return any(_customer_refs(v, customer_ids, str(k)) for k, v in value.items())
    if isinstance(value, list):
        return any(_customer_refs(v, customer_ids, key) for v in value)
    return key in CUSTOMER_ID_KEYS and value in customer_ids | {str(i) for i in customer_ids}


def scan_database(needles: Iterable[str], customer_ids: set[int] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """Where any needle occurs (case-insensitive) in any text/JSON column, and where any foreign key
    to a customer or a JSON value under a customer-id key holds one of `customer_ids`."""
    needles = [n for n in needles if n]
    found = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            points_at_customer = isinstance(field, models.ForeignKey) and field.related_model is Customer
            if points_at_customer and model._default_manager.filter(**{f"{field.attname}__in": customer_ids}).exists():
                found.append(f"{model._meta.label}.{field.name} → customer")
    for model, field in text_columns():
        qs = model._default_manager.all()
        target = field.name
        if isinstance(field, models.JSONField):
            qs = qs.annotate(_scan_text=Cast(field.name, TextField()))
            target = "_scan_text"
            if customer_ids:
                values = qs.exclude(**{f"{field.name}__isnull": True}).values_list(field.name, flat=True)
                if any(_customer_refs(v, customer_ids) for v in values.iterator()):
                    found.append(f"{model._meta.label}.{field.name} customer id")
        condition = Q()
        for needle in needles:
            condition |= Q(**{f"{target}__icontains": needle})
        if qs.filter(condition).exists():
            found.append(f"{model._meta.label}.{field.name}")
    return found


def scan_export_files(needles: Iterable[str], folder: str = "exports") -> list[str]:
    """Which stored export zips (under `folder` of the default storage) contain any needle."""
    needles = [n.lower() for n in needles if n]
    found = []
    pending = [folder]
    while pending:
        current = pending.pop()
        if not default_storage.exists(current):
            continue
        dirs, files = default_storage.listdir(current)
        pending += [f"{current}/{d}" for d in dirs]
        for name in files:
            with default_storage.open(f"{current}/{name}", "rb") as fh, zipfile.ZipFile(io.BytesIO(fh.read())) as zf:
                text = " ".join(zf.read(member).decode(errors="replace") for member in zf.namelist()).lower()
            if any(n in text for n in needles):
                found.append(f"{current}/{name}")
    return found
