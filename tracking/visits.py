"""Visits (sessions) per device: the snippet's session_id, else a new visit after 30 minutes without
events. The device's current visit lives in the cache, so a known device costs one cache read (one
Redis round trip for all the request's devices) and one UPDATE per request; the database is read
only when the cache has nothing for the device."""

import datetime
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, Value, Window
from django.db.models.functions import Greatest, RowNumber

from clarm.rowsinsert import rows_insert
from tracking.hotcache import delete_many, json_get_many, json_set_many
from tracking.models import Visit

logger = logging.getLogger(__name__)

SESSION_GAP = datetime.timedelta(minutes=30)
# The cache entry outlives the session so a returning device's visit number needs no count query.
CACHE_TTL = 6 * 3600
# Don't rewrite the cache entry for every event: a `last` up to a minute old is precise enough.
CACHE_REFRESH = datetime.timedelta(seconds=60)
# New visits: one INSERT for the batch (clarm.rowsinsert); a row already stored for the session wins.
_NEW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("workspace_id", "bigint"),
    ("device_hash", "text"),
    ("session_id", "text"),
    ("started_at", "timestamptz"),
    ("last_event_at", "timestamptz"),
    ("event_count", "integer"),
    ("landing", "jsonb"),
)
_NEW_CONFLICT = "ON CONFLICT (workspace_id, device_hash, session_id) DO NOTHING"
# Devices read from the database per query when the cache does not know them.
_LOOKUP_CHUNK = 500


def _cache_write(entries: dict[str, Any]) -> None:
    try:
        json_set_many(entries, ttl=CACHE_TTL)
    except Exception:
        logger.warning("visit cache unavailable", exc_info=True)


def _cache_key(workspace_id: int, device_hash: str) -> str:
    return f"clarm:visit:{workspace_id}:{device_hash}"


@dataclass(eq=False)
class VisitState:
    """A device's current visit. `visit_id` is None until a new visit is written (at flush)."""

    device_hash: str
    session_id: str
    number: int  # visits of the device so far, this one included
    started_at: datetime.datetime
    last_at: datetime.datetime
    visit_id: int | None = None
    landing: dict[str, Any] = field(default_factory=dict)
    cached_last_at: datetime.datetime | None = None
    new_events: int = 0

    def to_cache(self) -> dict[str, Any]:
        return {
            "id": self.visit_id,
            "sid": self.session_id,
            "n": self.number,
            "start": self.started_at.timestamp(),
            "last": self.last_at.timestamp(),
        }

    @classmethod
    def from_cache(cls, device_hash: str, data: dict[str, Any]) -> "VisitState":
        last = _instant(data["last"])
        return cls(
            device_hash=device_hash,
            session_id=data["sid"],
            number=int(data["n"]),
            started_at=_instant(data["start"]),
            last_at=last,
            visit_id=data["id"],
            cached_last_at=last,
        )

    def cache_stale(self) -> bool:
        """Whether the cache entry of this (current) visit should be written again."""
        return self.cached_last_at is None or self.last_at - self.cached_last_at >= CACHE_REFRESH


def _instant(timestamp: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)


def visits_cache_forget(workspace_id: int, device_hashes: list[str]) -> None:
    """Drop these devices' cached visits (and owners), e.g. after their person was erased."""
    if device_hashes:
        delete_many([_cache_key(workspace_id, h) for h in device_hashes])


def visits_cache_write(workspace_id: int, states: list[VisitState]) -> None:
    """Write these devices' current visits to the cache now (the caller has committed them)."""
    if states:
        _cache_write({_cache_key(workspace_id, s.device_hash): s.to_cache() for s in states})


class VisitTracker:
    """Assigns the events of one ingest request to visits; `flush` writes them after the events."""

    def __init__(self, *, workspace_id: int, device_hashes: set[str]) -> None:
        self.workspace_id = workspace_id
        self.current: dict[str, VisitState | None] = {}
        self.touched: list[VisitState] = []
        if device_hashes:
            keys = {_cache_key(workspace_id, h): h for h in device_hashes}
            try:
                found = json_get_many(list(keys))
            except Exception:  # the cache is an accelerator: without it, read the database
                logger.warning("visit cache unavailable", exc_info=True)
                found = {}
            for key, data in found.items():
                try:
                    self.current[keys[key]] = VisitState.from_cache(keys[key], data)
                except (KeyError, TypeError, ValueError):
                    continue
            self._from_database(sorted(device_hashes - self.current.keys()))

    def _from_database(self, device_hashes: list[str]) -> None:
        """The latest visit and the number of visits of each of these devices: one query per chunk of
        devices (None for a device never seen)."""
        for start in range(0, len(device_hashes), _LOOKUP_CHUNK):
            chunk = device_hashes[start : start + _LOOKUP_CHUNK]
            self.current.update(dict.fromkeys(chunk))
            latest = (
                Visit.objects.filter(workspace_id=self.workspace_id, device_hash__in=chunk)
                .annotate(
                    visits=Window(Count("id"), partition_by=[F("device_hash")]),
                    recency=Window(
                        RowNumber(), partition_by=[F("device_hash")], order_by=[F("started_at").desc(), F("id").desc()]
                    ),
                )
                .filter(recency=1)
                .values_list("id", "device_hash", "session_id", "started_at", "last_event_at", "visits")
            )
            for visit_id, device_hash, session_id, started_at, last_at, visits in latest:
                self.current[device_hash] = VisitState(
                    device_hash=device_hash,
                    session_id=session_id,
                    number=visits,
                    started_at=started_at,
                    last_at=last_at,
                    visit_id=visit_id,
                )

    def assign(
        self, *, device_hash: str, session_id: str | None, at: datetime.datetime, landing: dict[str, Any]
    ) -> tuple[VisitState, bool]:
        """The visit this event belongs to, and whether the event starts it."""
        if device_hash not in self.current:
            self._from_database([device_hash])
        state = self.current[device_hash]
        if state is not None:
            same = state.session_id == session_id if session_id else at - state.last_at <= SESSION_GAP
            if same:
                if at > state.last_at:
                    state.last_at = at
                if state not in self.touched:
                    self.touched.append(state)
                return state, False
        new = VisitState(
            device_hash=device_hash,
            session_id=session_id or f"auto-{uuid.uuid4().hex[:24]}",
            number=(state.number + 1) if state is not None else 1,
            started_at=at,
            last_at=at,
            landing=landing,
        )
        self.current[device_hash] = new
        self.touched.append(new)
        return new, True

    def flush(self) -> None:
        """Write the visits that got stored events: new ones inserted (an existing row with the same
        session wins), known ones moved on, all of those in one statement in id order (so two
        requests touching the same visits never wait on each other in a cycle). Call inside the
        ingest transaction, after the events."""
        to_cache: dict[str, Any] = {}
        stored = [s for s in self.touched if s.new_events]
        touch = [s for s in stored if s.visit_id is not None]
        touch += self._insert_new([s for s in stored if s.visit_id is None])
        for state in stored:
            if self.current.get(state.device_hash) is state and state.cache_stale():
                to_cache[_cache_key(self.workspace_id, state.device_hash)] = state.to_cache()
        _visits_touch(touch)
        if to_cache:
            # Only once the visits are committed: a rolled-back visit id must never be cached.
            transaction.on_commit(lambda: _cache_write(to_cache))

    def _insert_new(self, states: list[VisitState]) -> list[VisitState]:
        """Insert these new visits in one statement, in one order (device, session) whatever the order
        of the events, so two writers creating the same visits wait on each other's unique keys in one
        order. A visit whose session is already stored (or repeated in the list) is not inserted: it
        is returned, with that row's id, to be moved on instead."""
        states = sorted(states, key=lambda s: (s.device_hash, s.session_id))
        rows = [
            {
                "workspace_id": self.workspace_id,
                "device_hash": s.device_hash,
                "session_id": s.session_id,
                "started_at": s.started_at,
                "last_event_at": s.last_at,
                "event_count": s.new_events,
                "landing": s.landing,
            }
            for s in states
        ]
        returned = rows_insert(
            Visit, _NEW_COLUMNS, rows, conflict=_NEW_CONFLICT, returning="id, device_hash, session_id"
        )
        ids = {(device_hash, session_id): pk for pk, device_hash, session_id in returned}
        existing: list[VisitState] = []
        for state in states:
            pk = ids.pop((state.device_hash, state.session_id), None)
            if pk is None:
                existing.append(state)
            else:
                state.visit_id = pk
        if existing:
            stored = {
                (device_hash, session_id): pk
                for pk, device_hash, session_id in Visit.objects.filter(
                    workspace_id=self.workspace_id,
                    device_hash__in={s.device_hash for s in existing},
                    session_id__in={s.session_id for s in existing},
                ).values_list("id", "device_hash", "session_id")
            }
            for state in existing:
                state.visit_id = stored[(state.device_hash, state.session_id)]
        return existing


def _visits_touch(states: list[VisitState]) -> None:
    """Move known visits on: last_event_at (never backwards) and event_count, rows locked in id order."""
    moves: dict[int, tuple[datetime.datetime, int]] = {}
    for state in states:
        assert state.visit_id is not None
        last, count = moves.get(state.visit_id, (state.last_at, 0))
        moves[state.visit_id] = (max(last, state.last_at), count + state.new_events)
    ordered = sorted(moves.items())
    if not ordered:
        return
    if connection.vendor != "postgresql" or len(ordered) == 1:
        for visit_id, (last, count) in ordered:
            Visit.objects.filter(pk=visit_id).update(
                last_event_at=Greatest(F("last_event_at"), Value(last)), event_count=F("event_count") + count
            )
        return
    table = Visit._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH v(id, last_at, n) AS (SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::integer[])), "  # noqa: S608 (table name from the model, values as parameters)
            f"locked AS MATERIALIZED (SELECT t.id FROM {table} t WHERE t.id IN (SELECT id FROM v) "
            "ORDER BY t.id FOR NO KEY UPDATE) "
            f"UPDATE {table} AS t SET last_event_at = GREATEST(t.last_event_at, v.last_at), "
            "event_count = t.event_count + v.n FROM v, locked WHERE t.id = v.id AND locked.id = v.id",
            [
                [visit_id for visit_id, _ in ordered],
                [last for _, (last, _) in ordered],
                [count for _, (_, count) in ordered],
            ],
        )
