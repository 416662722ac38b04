"""Exports in bounded memory: rows come from `.iterator(chunk_size=…)`, are written to a zip entry
as they come, and the zip's bytes are handed on (to a streamed response or a file) chunk by chunk.

A zip can be written to a stream that cannot seek: `zipfile` then writes each entry's sizes in a
data descriptor after its data, so nothing has to be held back.
"""

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast

CHUNK_SIZE = 2000
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d[\d\s().\-]*", re.ASCII)
FLUSH_BYTES = 256 * 1024


class _Sink(io.RawIOBase):
    """A write-only, non-seekable stream collecting bytes until taken."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self.size += len(chunk)
        return len(chunk)

    def pending(self) -> int:
        return sum(len(c) for c in self._chunks)

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _csv_safe(value: Any) -> Any:
    """Spreadsheet formula injection: text a spreadsheet would read as a formula (starting with
    = + - @, a tab or a carriage return) is prefixed with a quote, unless it is a plain number or
    phone number ("-5", "+1 (415) 555-0100")."""
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


@dataclass
class Entry:
    """One file of the zip: `rows` yields tuples in `fields` order; values of the fields in `raw_json`
    are JSON text already (cast by the database, so they are not parsed and re-serialized here)."""

    name: str
    kind: str  # csv | json
    fields: list[str]
    raw_json: frozenset[str]
    rows: Callable[[], Iterable[tuple[Any, ...]]]


def _json_record(fields: list[str], raw: list[bool], row: tuple[Any, ...]) -> str:
    parts = []
    for name, is_raw, value in zip(fields, raw, row, strict=True):
        text = (value if value is not None else "null") if is_raw else json.dumps(value, cls=DjangoJSONEncoder)
        parts.append(f"{json.dumps(name)}: {text}")
    return "{" + ", ".join(parts) + "}"


def _entries_write(
    zf: zipfile.ZipFile, sink: _Sink, entries: list[Entry], on_rows: Callable[[int], None]
) -> Iterator[bytes]:
    """Write each entry, yielding zip bytes as they pile up. `on_rows(n)` is told how many more
    rows were written."""
    for entry in entries:
        raw = [f in entry.raw_json for f in entry.fields]
        with zf.open(entry.name, mode="w", force_zip64=True) as fh:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            count = reported = 0
            if entry.kind == "csv":
                writer.writerow(entry.fields)
            else:
                buffer.write("[")
            for row in entry.rows():
                if entry.kind == "csv":
                    writer.writerow([_csv_safe(_cell(v)) for v in row])
                else:
                    buffer.write(("," if count else "") + "\n" + _json_record(entry.fields, raw, row))
                count += 1
                if buffer.tell() >= FLUSH_BYTES:
                    fh.write(buffer.getvalue().encode())
                    buffer.seek(0)
                    buffer.truncate()
                    on_rows(count - reported)
                    reported = count
                    if sink.pending():
                        yield sink.take()
            if entry.kind == "json":
                buffer.write("\n]\n")
            fh.write(buffer.getvalue().encode())
            on_rows(count - reported)
        if sink.pending():
            yield sink.take()


def zip_stream(entries: list[Entry], on_rows: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The bytes of a zip holding the entries, produced as rows are read."""
    sink = _Sink()
    zf = zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
    yield from _entries_write(zf, sink, entries, on_rows or (lambda n: None))
    zf.close()
    yield sink.take()


def query_entry(name: str, fmt: str, qs: QuerySet[Any], fields: list[str]) -> Entry:
    """Rows of `qs` as tuples, read in chunks; JSON columns come as their JSON text."""
    model = qs.model
    raw = frozenset(
        f for f in fields if f in {x.attname for x in model._meta.concrete_fields if isinstance(x, models.JSONField)}
    )
    annotated = qs.annotate(**{f"_export_{f}": Cast(f, TextField()) for f in raw})
    columns = [f"_export_{f}" if f in raw else f for f in fields]
    return Entry(
        name=f"{name}.{fmt}",
        kind=fmt,
        fields=fields,
        raw_json=raw,
        rows=lambda: annotated.values_list(*columns).iterator(chunk_size=CHUNK_SIZE),
    )
