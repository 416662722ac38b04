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
from django.db.models import F, Value
from django.db.models.functions import Greatest

from tracking.hotcache import delete_many, json_get_many, json_set_many
from tracking.models import Visit

logger = logging.getLogger(__name__)

SESSION_GAP = datetime.timedelta(minutes=30)
# The cache entry outlives the session so a returning device's visit number needs no count query.
CACHE_TTL = 6 * 3600
# Don't rewrite the cache entry for every event: a `last` up to a minute old is precise enough.
CACHE_REFRESH = datetime.timedelta(seconds=60)


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

    def _from_database(self, device_hash: str) -> VisitState | None:
        latest = (
            Visit.objects.filter(workspace_id=self.workspace_id, device_hash=device_hash)
            .order_by("-started_at", "-id")
            .values("id", "session_id", "started_at", "last_event_at")
            .first()
        )
        if latest is None:
            return None
        count = Visit.objects.filter(workspace_id=self.workspace_id, device_hash=device_hash).count()
        return VisitState(
            device_hash=device_hash,
            session_id=latest["session_id"],
            number=count,
            started_at=latest["started_at"],
            last_at=latest["last_event_at"],
            visit_id=latest["id"],
        )

    def assign(
        self, *, device_hash: str, session_id: str | None, at: datetime.datetime, landing: dict[str, Any]
    ) -> tuple[VisitState, bool]:
        """The visit this event belongs to, and whether the event starts it."""
        if device_hash not in self.current:
            self.current[device_hash] = self._from_database(device_hash)
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
        touch: list[VisitState] = []
        # New visits are inserted in one order (device, session) whatever the order of the events,
        # so two requests creating the same visits wait on each other's unique keys in one order.
        for state in sorted(self.touched, key=lambda s: (s.visit_id is not None, s.device_hash, s.session_id)):
            if state.new_events == 0:
                continue
            if state.visit_id is None:
                visit, created = Visit.objects.get_or_create(
                    workspace_id=self.workspace_id,
                    device_hash=state.device_hash,
                    session_id=state.session_id,
                    defaults={
                        "started_at": state.started_at,
                        "last_event_at": state.last_at,
                        "event_count": state.new_events,
                        "landing": state.landing,
                    },
                )
                state.visit_id = visit.pk
                if not created:
                    touch.append(state)
            else:
                touch.append(state)
            if self.current.get(state.device_hash) is state and state.cache_stale():
                to_cache[_cache_key(self.workspace_id, state.device_hash)] = state.to_cache()
        _visits_touch(touch)
        if to_cache:
            # Only once the visits are committed: a rolled-back visit id must never be cached.
            transaction.on_commit(lambda: _cache_write(to_cache))


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
