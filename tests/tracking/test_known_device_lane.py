"""The known-device lane of ingest (tracking.knowndevices): page views of a device the visit cache
says belongs to a customer, stored by one statement that re-checks the cache under locks.

Against real PostgreSQL and Redis: the lane takes what it may (spied: `_store`, the full path, is not
called), stores what the full path would, and a stale cache (a merge or split by hand, an erasure, an
opt-out, a forged entry) costs a trip through the full path, never an event on the wrong customer."""

import datetime
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from identity.models import ConsentSource, Customer, CustomerStatus, Identifier, IdentifierKind
from identity.normalize import claims_from_values
from identity.privacy.erasure import subject_erase
from identity.privacy.services import preferences_update
from identity.services.merges import customers_merge_manual, device_split
from tests.identity.helpers import run_in_threads
from tracking import hotcache
from tracking.models import Event, Visit
from workspaces.models import Workspace

# The lane is one PostgreSQL statement (tracking.knowndevices); on SQLite every event takes the full
# path. Tests that assert what the lane took are PostgreSQL-only; the others run on both.
LANE = pytest.mark.postgres_only(reason="asserts what the known-device lane (a PostgreSQL statement) took")

ANSWER_ONE = {"accepted": 1, "duplicates": 0, "suppressed": 0, "bots": 0, "rejected": [], "warnings": []}


def _ago(minutes: float) -> datetime.datetime:
    return (timezone.now() - datetime.timedelta(minutes=minutes)).replace(microsecond=0)


def _iso(moment: datetime.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _pv(
    visitor: str,
    message_id: str | None,
    *,
    at: datetime.datetime | None = None,
    session: str | None = "s1",
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"event": "page_view", "visitor_id": visitor, "message_id": message_id, **extra}
    if session is not None:
        body["session_id"] = session
    if at is not None:
        body["timestamp"] = _iso(at)
    return body


def _identify(
    visitor: str, message_id: str, email: str, *, at: datetime.datetime | None = None, session: str = "s1"
) -> dict[str, Any]:
    body = _pv(visitor, message_id, at=at, session=session, properties={"email": email})
    body["event"] = "identify"
    return body


def _device_hash(ws: Workspace, visitor: str) -> str:
    (claim,) = claims_from_values(ws, device=visitor).claims
    return claim.value_hash


def _device(ws: Workspace, visitor: str) -> Identifier:
    return Identifier.objects.get(workspace=ws, kind=IdentifierKind.DEVICE, value_hash=_device_hash(ws, visitor))


def _owner(ws: Workspace, visitor: str) -> Customer:
    return _device(ws, visitor).customer


def _cache_key(ws: Workspace, visitor: str) -> str:
    return f"clarm:visit:{ws.pk}:{_device_hash(ws, visitor)}"


def _cached(ws: Workspace, visitor: str) -> dict[str, Any] | None:
    """The device's entry in the visit cache (Redis), as the lane reads it."""
    return hotcache.json_get_many([_cache_key(ws, visitor)]).get(_cache_key(ws, visitor))


def _cached_owner(ws: Workspace, visitor: str) -> int | None:
    """The device's owner as the visit cache names it (what the lane trusts until its re-check)."""
    return (_cached(ws, visitor) or {}).get("cust")


def _event(ws: Workspace, message_id: str) -> Event:
    return Event.objects.get(workspace=ws, message_id=message_id)


def _assert_events_on_live_customers(ws: Workspace) -> None:
    """Every event of the workspace is on a live customer of the workspace (and, inside a test's
    transaction, the deferred foreign keys hold: nothing points at a deleted customer)."""
    if connection.in_atomic_block:
        connection.check_constraints()
    live = set(
        Customer.objects.filter(workspace=ws, status=CustomerStatus.LIVE).values_list("id", flat=True),
    )
    stray = list(Event.objects.filter(workspace=ws).exclude(customer_id__in=live).values("message_id", "customer_id"))
    assert stray == []


# --- 1. the lane is used, and stores what the full path would ----------------------------------------


@LANE
def test_a_returning_devices_page_view_is_stored_by_the_lane(post_track, tenant, paths):
    ws = tenant.workspace
    t0 = _ago(20)
    assert post_track(_pv("dev-1", "m1", at=t0, url="https://shop.example/")).json() == ANSWER_ONE
    r = post_track(_identify("dev-1", "m2", "jane@example.com", at=t0 + datetime.timedelta(minutes=1)))
    assert r.json() == ANSWER_ONE
    customer = _owner(ws, "dev-1")
    assert customer.rung == 2  # the email lifted the device's customer
    assert paths.full == [["m1"], ["m2"]] and paths.confirmed == []
    assert _cached_owner(ws, "dev-1") == customer.pk
    paths.reset()

    # No session id: the event continues the visit by time, and takes the visit's session.
    t2 = t0 + datetime.timedelta(minutes=5)
    r = post_track(_pv("dev-1", "m3", at=t2, session=None, url="https://shop.example/p/3", properties={"n": 3}))

    assert r.status_code == 202 and r.json() == ANSWER_ONE
    assert paths.full == [] and paths.confirmed == ["m3"]  # one statement, no full path
    event = _event(ws, "m3")
    assert (event.customer_id, event.rung, event.session_id, event.occurred_at) == (customer.pk, 2, "s1", t2)
    assert (event.device_hash, event.source, event.event) == (_device_hash(ws, "dev-1"), "web", "page_view")
    assert event.context["url"] == "https://shop.example/p/3" and event.properties == {"n": 3}
    assert "ip_hash" in event.context  # enriched like any other event
    visit = Visit.objects.get(workspace=ws, device_hash=_device_hash(ws, "dev-1"))
    assert (visit.session_id, visit.event_count, visit.last_event_at) == ("s1", 3, t2)
    customer.refresh_from_db()
    assert customer.last_seen == t2  # more than 60 s behind: moved
    assert Event.objects.filter(workspace=ws).count() == 3


@LANE
def test_a_page_view_starting_a_new_visit_or_earlier_than_the_customer_is_not_the_lanes(post_track, tenant, paths):
    """The lane takes only events that change nothing on the customer: a new visit (the visit count
    and maybe the rung move) and an event before the customer's first_seen go the full path."""
    ws = tenant.workspace
    t0 = _ago(30)
    post_track(_pv("dev-1", "m1", at=t0))
    paths.reset()
    assert post_track(_pv("dev-1", "m2", at=t0 - datetime.timedelta(minutes=5))).json() == ANSWER_ONE
    assert paths.full == [["m2"]] and paths.refused == ["m2"]
    customer = _owner(ws, "dev-1")
    assert customer.first_seen == t0 - datetime.timedelta(minutes=5)
    paths.reset()
    assert post_track(_pv("dev-1", "m3", session="s2", at=t0 + datetime.timedelta(minutes=1))).json() == ANSWER_ONE
    assert paths.full == [["m3"]]  # a new visit: not even tried
    customer.refresh_from_db()
    assert (customer.rung, _device(ws, "dev-1").visit_count, _event(ws, "m3").rung) == (1, 2, 1)
    paths.reset()
    # The second visit continues through the lane, at the rung it reached.
    assert post_track(_pv("dev-1", "m4", session="s2", at=t0 + datetime.timedelta(minutes=2))).json() == ANSWER_ONE
    assert paths.full == [] and paths.confirmed == ["m4"]
    assert (_event(ws, "m4").customer_id, _event(ws, "m4").rung, _event(ws, "m4").session_id) == (customer.pk, 1, "s2")


@LANE
@pytest.mark.parametrize("behind", ["customer rung", "device visit count"])
def test_a_cache_claiming_more_than_the_database_proves_is_not_trusted(post_track, tenant, paths, behind):
    """The cache says the device is on its 3rd visit (the event proves rung 1). The re-check refuses the
    event when the customer is not at rung 1 yet, or when the device has not counted 3 visits (each
    check alone: the other fact is made true directly in the database); the full path decides."""
    ws = tenant.workspace
    post_track(_pv("dev-1", "m1"))
    customer = _owner(ws, "dev-1")
    if behind == "customer rung":
        Identifier.objects.filter(pk=_device(ws, "dev-1").pk).update(visit_count=3)
    else:
        Customer.objects.filter(pk=customer.pk).update(rung=1)
    entry = _cached(ws, "dev-1")
    assert entry is not None
    hotcache.json_set_many({_cache_key(ws, "dev-1"): {**entry, "n": 3}}, ttl=600)
    paths.reset()
    assert post_track(_pv("dev-1", "m2")).json() == ANSWER_ONE
    assert paths.refused == ["m2"] and paths.full == [["m2"]]
    event = _event(ws, "m2")
    customer.refresh_from_db()
    assert (event.customer_id, event.rung, customer.rung, _device(ws, "dev-1").visit_count) == (customer.pk, 1, 1, 3)


# --- 2. a stale cache: merge, split, erasure -------------------------------------------------------------


@LANE
def test_after_a_merge_by_hand_the_next_page_view_lands_on_the_survivor(post_track, tenant, paths):
    ws = tenant.workspace
    post_track(_pv("dev-1", "m1", session="s1"))
    post_track(_pv("dev-2", "m2", session="s2"))
    merged, survivor = _owner(ws, "dev-1"), _owner(ws, "dev-2")
    customers_merge_manual(workspace=ws, survivor=survivor, merged=merged, actor=None)
    assert _cached_owner(ws, "dev-1") == merged.pk  # the cache is stale now
    paths.reset()

    assert post_track(_pv("dev-1", "m3", session="s1")).json() == ANSWER_ONE
    assert paths.refused == ["m3"] and paths.full == [["m3"]]  # the re-check caught it
    assert _event(ws, "m3").customer_id == survivor.pk
    _assert_events_on_live_customers(ws)
    # The full path put the survivor in the cache: the lane takes the device again, onto it.
    assert _cached_owner(ws, "dev-1") == survivor.pk
    paths.reset()
    assert post_track(_pv("dev-1", "m4", session="s1")).json() == ANSWER_ONE
    assert paths.full == [] and paths.confirmed == ["m4"]
    assert _event(ws, "m4").customer_id == survivor.pk
    assert set(Event.objects.filter(workspace=ws).values_list("customer_id", flat=True)) == {survivor.pk}
    _assert_events_on_live_customers(ws)


@LANE
def test_after_a_device_split_by_hand_the_next_page_view_lands_on_the_new_owner(post_track, tenant, paths):
    ws = tenant.workspace
    post_track(_pv("dev-1", "m1"))
    post_track(_identify("dev-1", "m2", "sam@example.com"))
    source = _owner(ws, "dev-1")
    device_split(workspace=ws, customer=source, identifier=_device(ws, "dev-1"), actor=None)
    new_owner = _owner(ws, "dev-1")
    assert new_owner.pk != source.pk
    source.refresh_from_db()
    assert source.status == CustomerStatus.LIVE  # still live: only the device's ownership changed
    assert _cached_owner(ws, "dev-1") == source.pk
    paths.reset()

    assert post_track(_pv("dev-1", "m3")).json() == ANSWER_ONE
    assert paths.refused == ["m3"] and paths.full == [["m3"]]
    assert _event(ws, "m3").customer_id == new_owner.pk
    assert not Event.objects.filter(workspace=ws, customer=source).exists()
    paths.reset()
    assert post_track(_pv("dev-1", "m4")).json() == ANSWER_ONE
    assert paths.confirmed == ["m4"] and paths.full == []
    assert _event(ws, "m4").customer_id == new_owner.pk
    _assert_events_on_live_customers(ws)


@LANE
def test_after_erasure_a_stale_cache_never_brings_the_erased_customer_back(post_track, tenant, paths):
    """A request that read the cache just before an erasure committed (the erasure's after-commit
    cache clean-up is not run here, so the entry still names the erased customer)."""
    ws = tenant.workspace
    post_track(_pv("dev-1", "m1"))
    post_track(_pv("dev-1", "m2"))
    erased = _owner(ws, "dev-1")
    assert paths.confirmed == ["m2"]
    subject_erase(workspace=ws, customer=erased)
    assert not Customer.objects.filter(pk=erased.pk).exists()
    assert _cached_owner(ws, "dev-1") == erased.pk
    paths.reset()

    assert post_track(_pv("dev-1", "m3")).json() == ANSWER_ONE
    assert paths.refused == ["m3"] and paths.full == [["m3"]]
    event = _event(ws, "m3")
    assert event.customer_id != erased.pk
    assert event.customer is not None and event.customer.status == CustomerStatus.LIVE
    assert Event.objects.filter(workspace=ws).count() == 1  # the erased events stay erased
    _assert_events_on_live_customers(ws)


def test_after_erasure_a_returning_devices_page_views_are_counted_in_a_visit(
    post_track, tenant, paths, django_capture_on_commit_callbacks
):
    """Erasure as production runs it (its after-commit work included) deletes the device's visits and
    must forget the device's cached visit and owner (tracking.visits' Redis entry). Otherwise the full
    path continues the deleted visit, puts the new customer in the cache next to the deleted visit's
    id, and the lane then stores the device's page views into a visit that no longer exists."""
    ws = tenant.workspace
    post_track(_pv("dev-1", "m1"))
    with django_capture_on_commit_callbacks(execute=True):
        subject_erase(workspace=ws, customer=_owner(ws, "dev-1"))
    assert not Visit.objects.filter(workspace=ws).exists()
    cached_after_erasure = _cached(ws, "dev-1")
    paths.reset()

    assert post_track(_pv("dev-1", "m2")).json() == ANSWER_ONE
    assert post_track(_pv("dev-1", "m3")).json() == ANSWER_ONE
    _assert_events_on_live_customers(ws)
    assert _event(ws, "m3").customer_id == _owner(ws, "dev-1").pk
    device = _device_hash(ws, "dev-1")
    visits = list(Visit.objects.filter(workspace=ws, device_hash=device).values_list("event_count", flat=True))
    assert (cached_after_erasure, visits) == (None, [2])


# --- 3. opt-out and consent ------------------------------------------------------------------------------


@LANE
def test_an_opted_out_persons_page_view_is_suppressed_by_the_lane_and_consent_events_are_kept(
    post_track, tenant, paths
):
    ws = tenant.workspace
    post_track(_pv("dev-1", "m1"))
    customer = _owner(ws, "dev-1")
    preferences_update(workspace=ws, customer=customer, changes={"analytics": False}, source=ConsentSource.PREFERENCES)
    paths.reset()

    r = post_track(_pv("dev-1", "m2"))
    assert r.status_code == 202
    assert r.json() == {"accepted": 0, "duplicates": 0, "suppressed": 1, "bots": 0, "rejected": [], "warnings": []}
    assert paths.full == [] and paths.confirmed == ["m2"]  # the lane's answer
    assert not Event.objects.filter(workspace=ws, message_id="m2").exists()
    visit = Visit.objects.get(workspace=ws)
    assert visit.event_count == 1  # a suppressed event does not move the visit
    paths.reset()

    # A consent choice is the record of the choice: kept, and never the lane's (which would drop it).
    consent = _pv("dev-1", "m3", properties={"choice": "granted", "version": "v2"})
    consent["event"] = "consent_given"
    assert post_track(consent).json() == ANSWER_ONE
    assert paths.full == [["m3"]] and paths.confirmed == [] and paths.refused == []
    assert _event(ws, "m3").customer_id == customer.pk
    customer.refresh_from_db()
    assert customer.allow_analytics is False  # a grant event does not undo the opt-out
    # Still opted out: the next page view is still dropped.
    assert post_track(_pv("dev-1", "m4")).json()["suppressed"] == 1
    assert set(Event.objects.filter(workspace=ws).values_list("message_id", flat=True)) == {"m1", "m3"}


# --- 4. duplicates -------------------------------------------------------------------------------------


@LANE
def test_a_repeated_message_id_through_the_lane_is_a_duplicate(post_track, tenant, paths):
    ws = tenant.workspace
    post_track(_pv("dev-1", "m1"))
    assert post_track(_pv("dev-1", "m2")).json() == ANSWER_ONE
    paths.reset()

    again = post_track(_pv("dev-1", "m2"))
    assert again.json() == {"accepted": 0, "duplicates": 1, "suppressed": 0, "bots": 0, "rejected": [], "warnings": []}
    first = post_track(_pv("dev-1", "m1"))  # stored by the full path, repeated through the lane
    assert first.json() == {"accepted": 0, "duplicates": 1, "suppressed": 0, "bots": 0, "rejected": [], "warnings": []}
    batch = post_track({"batch": [_pv("dev-1", "m5"), _pv("dev-1", "m5"), _pv("dev-1", "m2")]})
    assert batch.json() == {"accepted": 1, "duplicates": 2, "suppressed": 0, "bots": 0, "rejected": [], "warnings": []}
    assert paths.full == [] and paths.confirmed == ["m2", "m1", "m5", "m2"]
    counts = Counter(Event.objects.filter(workspace=ws).values_list("message_id", flat=True))
    assert counts == {"m1": 1, "m2": 1, "m5": 1}
    assert Visit.objects.get(workspace=ws).event_count == 3  # duplicates do not move the visit


# --- 5. last_seen ----------------------------------------------------------------------------------------


@LANE
def test_the_lane_moves_last_seen_only_when_more_than_a_minute_behind(post_track, tenant, paths):
    ws = tenant.workspace
    t0 = _ago(30)
    post_track(_pv("dev-1", "m1", at=t0))
    customer = _owner(ws, "dev-1")
    assert customer.last_seen == t0
    paths.reset()

    def last_seen_after(message_id: str, seconds: int) -> datetime.datetime:
        assert post_track(_pv("dev-1", message_id, at=t0 + datetime.timedelta(seconds=seconds))).json() == ANSWER_ONE
        customer.refresh_from_db()
        return customer.last_seen

    assert last_seen_after("m2", 30) == t0  # 30 s: within the slack
    assert last_seen_after("m3", 60) == t0  # exactly 60 s: still within
    assert last_seen_after("m4", 61) == t0 + datetime.timedelta(seconds=61)
    assert last_seen_after("m5", 100) == t0 + datetime.timedelta(seconds=61)  # 39 s after the new value
    assert last_seen_after("m6", 10) == t0 + datetime.timedelta(seconds=61)  # never backwards
    # An older last_seen (set directly) is moved by the next lane event.
    Customer.objects.filter(pk=customer.pk).update(last_seen=t0 - datetime.timedelta(hours=3))
    assert last_seen_after("m7", 62) == t0 + datetime.timedelta(seconds=62)
    assert paths.full == [] and paths.confirmed == ["m2", "m3", "m4", "m5", "m6", "m7"]
    visit = Visit.objects.get(workspace=ws)
    assert (visit.event_count, visit.last_event_at) == (7, t0 + datetime.timedelta(seconds=100))


# --- 6. a batch mixing the lane and the full path ---------------------------------------------------------


@LANE
def test_a_batch_with_an_identify_of_the_same_device_sends_that_device_the_full_path(post_track, tenant, paths):
    ws = tenant.workspace
    t0 = _ago(20)
    post_track(_pv("dev-1", "a1", at=t0, session="s1"))
    post_track(_pv("dev-2", "b1", at=t0, session="s2"))
    other = _owner(ws, "dev-2")
    paths.reset()

    r = post_track(
        {
            "batch": [
                _pv("dev-1", "a2", at=t0 + datetime.timedelta(minutes=1), session="s1"),
                _identify("dev-1", "a3", "lee@example.com", at=t0 + datetime.timedelta(minutes=2)),
                _pv("dev-2", "b2", at=t0 + datetime.timedelta(minutes=2), session="s2"),
                _pv("dev-1", "a4", at=t0 + datetime.timedelta(minutes=3), session="s1"),
            ]
        }
    )
    assert r.json() == {"accepted": 4, "duplicates": 0, "suppressed": 0, "bots": 0, "rejected": [], "warnings": []}
    # dev-1's events all in order through the full path; dev-2's page view through the lane.
    assert paths.full == [["a2", "a3", "a4"]] and paths.confirmed == ["b2"] and paths.refused == []
    person = _owner(ws, "dev-1")
    assert (person.email, person.rung) == ("lee@example.com", 2)
    stored = {e.message_id: (e.customer_id, e.rung) for e in Event.objects.filter(workspace=ws)}
    assert stored == {
        "a1": (person.pk, 0),
        "a2": (person.pk, 0),
        "a3": (person.pk, 2),
        "a4": (person.pk, 2),
        "b1": (other.pk, 0),
        "b2": (other.pk, 0),
    }
    assert Event.objects.filter(workspace=ws).count() == 6
    counts = dict(Visit.objects.filter(workspace=ws).values_list("session_id", "event_count"))
    assert counts == {"s1": 4, "s2": 2}


@LANE
def test_a_lane_event_follows_its_customer_into_a_merge_made_by_the_same_batch(post_track, tenant, paths):
    """The lane stores dev-2's page view on its customer first; the identify of dev-1 in the same batch
    then merges that customer (it owns the email) with dev-1's: the page view moves with it."""
    ws = tenant.workspace
    post_track(_pv("dev-1", "a1", session="s1"))
    post_track(_pv("dev-2", "b1", session="s2"))
    post_track(_identify("dev-2", "b2", "kim@example.com", session="s2"))
    paths.reset()

    r = post_track({"batch": [_identify("dev-1", "a2", "kim@example.com"), _pv("dev-2", "b3", session="s2")]})
    assert r.json() == {"accepted": 2, "duplicates": 0, "suppressed": 0, "bots": 0, "rejected": [], "warnings": []}
    assert paths.confirmed == ["b3"] and paths.full == [["a2"]]
    (live,) = Customer.objects.filter(workspace=ws, status=CustomerStatus.LIVE)
    assert _owner(ws, "dev-1") == live and _owner(ws, "dev-2") == live
    assert set(Event.objects.filter(workspace=ws).values_list("customer_id", flat=True)) == {live.pk}
    _assert_events_on_live_customers(ws)


# --- 7. concurrency -------------------------------------------------------------------------------------

SENDERS, BATCHES, BATCH_SIZE, POOL, MERGES = 4, 5, 20, 8, 5


def _post(client: Client, key: str, body: dict[str, Any]) -> Any:
    return client.post("/api/track", data=json.dumps(body), content_type="application/json", HTTP_X_CLARM_KEY=key)


@LANE
@pytest.mark.django_db(transaction=True)
def test_lane_page_views_racing_merges_by_hand_lose_nothing(tenant, settings, paths, caplog):
    settings.CLARM_RATE_LIMIT_PER_MINUTE = 0
    ws, key = tenant.workspace, tenant.write_key
    devices = [f"pool-{d}" for d in range(POOL)]
    setup = _post(Client(), key, {"batch": [_pv(d, f"setup-{d}", session=f"s-{d}") for d in devices]})
    assert setup.json()["accepted"] == POOL
    assert all(_cached_owner(ws, d) for d in devices)  # every device's owner is cached
    paths.reset()
    answers: list[tuple[int, Any]] = []
    merges: list[tuple[int, int]] = []
    lock = threading.Lock()

    def sender(n: int) -> None:
        client = Client()
        rng = random.Random(n)
        for b in range(BATCHES):
            batch = []
            for i in range(BATCH_SIZE):
                d = rng.choice(devices)
                batch.append(_pv(d, f"c{n}-{b}-{i}", session=f"s-{d}", url=f"https://shop.example/{i}"))
            r = _post(client, key, {"batch": batch})
            with lock:
                answers.append((r.status_code, r.json() if r.status_code == 202 else r.content))

    def owner() -> None:
        """An owner merging the devices' customers by hand while the page views come in."""
        rng = random.Random(1000)
        for _ in range(MERGES):
            time.sleep(0.01)
            owners = sorted(
                set(
                    Identifier.objects.filter(workspace=ws, kind=IdentifierKind.DEVICE).values_list(
                        "customer_id", flat=True
                    )
                )
            )
            survivor, merged = rng.sample(owners, 2)
            customers_merge_manual(
                workspace=ws,
                survivor=Customer.objects.get(pk=survivor),
                merged=Customer.objects.get(pk=merged),
                actor=None,
            )
            merges.append((survivor, merged))

    assert run_in_threads(SENDERS + 1, lambda n: sender(n) if n < SENDERS else owner()) == []
    assert Counter(status for status, _ in answers) == {202: SENDERS * BATCHES}, answers[:3]
    assert sum(a["duplicates"] + a["suppressed"] + len(a["rejected"]) for _, a in answers) == 0
    accepted = sum(a["accepted"] for _, a in answers)
    assert accepted == SENDERS * BATCHES * BATCH_SIZE
    assert Event.objects.filter(workspace=ws, message_id__startswith="c").count() == accepted
    assert len(merges) == MERGES
    assert paths.confirmed, "the lane took none of the page views"
    # Every event is on a live customer, and on its device's owner (the merges moved them all).
    _assert_events_on_live_customers(ws)
    owner_of = dict(Identifier.objects.filter(workspace=ws).values_list("value_hash", "customer_id"))
    misplaced = [
        (message_id, "lane" if message_id in paths.confirmed else "full path", customer_id, owner_of[device_hash])
        for message_id, device_hash, customer_id in Event.objects.filter(workspace=ws).values_list(
            "message_id", "device_hash", "customer_id"
        )
        if owner_of[device_hash] != customer_id
    ]
    assert misplaced == []
    # Each stored event was counted once in its visit (the setup's included).
    assert sum(Visit.objects.filter(workspace=ws).values_list("event_count", flat=True)) == accepted + POOL
    # No deadlock, no conflict sent back to the full path, no retry.
    assert "deadlock" not in caplog.text.lower()
    assert [r.getMessage() for r in caplog.records if r.name.startswith("tracking.")] == []

    # Afterwards, with caches left stale by the merges: each device's next page view lands on its owner.
    client = Client()
    for d in devices:
        r = _post(client, key, _pv(d, f"after-{d}", session=f"s-{d}"))
        assert r.status_code == 202 and r.json()["accepted"] == 1
        assert _event(ws, f"after-{d}").customer_id == _owner(ws, d).pk
    _assert_events_on_live_customers(ws)


def _locks_awaited() -> int:
    """Backends of this test database (other than ours) waiting for a lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _request_while_held(hold: Callable[[], None], request: Callable[[], Any]) -> Any:
    """Run `hold` in a transaction left open on its own connection, send `request` from another
    thread, and commit `hold` only once the request waits for one of its locks. Returns what
    `request` returned."""
    held, release = threading.Event(), threading.Event()
    out: dict[str, Any] = {}
    errors: list[BaseException] = []

    def holder() -> None:
        try:
            with transaction.atomic():
                hold()
                held.set()
                release.wait(10)
        except BaseException as exc:
            errors.append(exc)
            held.set()
        finally:
            connection.close()

    def requester() -> None:
        try:
            out["result"] = request()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    first = threading.Thread(target=holder)
    first.start()
    assert held.wait(10)
    second = threading.Thread(target=requester)
    second.start()
    deadline = time.monotonic() + 5
    waited = False
    while not waited and time.monotonic() < deadline:
        waited = _locks_awaited() > 0
        time.sleep(0.005)
    release.set()
    first.join(10)
    second.join(10)
    assert not first.is_alive() and not second.is_alive()
    assert errors == []
    assert waited, "the request never waited for the held transaction's locks"
    return out["result"]


@LANE
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["lane", "full path"])
@pytest.mark.parametrize("change", ["merge", "split"])
def test_a_page_view_waiting_for_an_owners_merge_or_split_lands_on_the_new_owner(tenant, paths, change, path):
    """The owner's merge or split holds the device's customer locked while a page view of the device
    comes in (the cache still names that customer); the page view waits, then must land on the device's
    owner as the merge or split left it. `path`: a page view the lane takes (it has a message id) or
    one only the full path takes (no message id)."""
    ws, key = tenant.workspace, tenant.write_key
    client = Client()
    assert _post(client, key, _pv("dev-1", "m1", session="s1")).json() == ANSWER_ONE
    assert _post(client, key, _pv("dev-2", "m2", session="s2")).json() == ANSWER_ONE
    assert _post(client, key, _identify("dev-1", "m3", "ana@example.com")).json() == ANSWER_ONE
    before = _owner(ws, "dev-1")
    assert _cached_owner(ws, "dev-1") == before.pk

    def hold() -> None:
        if change == "merge":
            customers_merge_manual(workspace=ws, survivor=_owner(ws, "dev-2"), merged=before, actor=None)
        else:
            device_split(workspace=ws, customer=before, identifier=_device(ws, "dev-1"), actor=None)

    message_id = "m4" if path == "lane" else None
    paths.reset()
    r = _request_while_held(hold, lambda: _post(Client(), key, _pv("dev-1", message_id, session="s1")))
    assert r.status_code == 202 and r.json() == ANSWER_ONE
    if path == "lane":
        assert paths.refused == ["m4"]  # the lane waited, re-checked, and left it to the full path
    after = _owner(ws, "dev-1")
    assert after.pk != before.pk
    newest = Event.objects.filter(workspace=ws).latest("id")
    assert (newest.message_id, newest.customer_id) == (message_id, after.pk)
    _assert_events_on_live_customers(ws)
    assert set(
        Event.objects.filter(workspace=ws, device_hash=_device_hash(ws, "dev-1")).values_list("customer_id", flat=True)
    ) == {after.pk}


# --- 8. tenants ------------------------------------------------------------------------------------------


@LANE
def test_a_cached_owner_of_one_workspace_is_never_used_for_another(post_track, tenant, other_tenant, paths):
    a_ws, b_ws = tenant.workspace, other_tenant.workspace
    post_track(_pv("shared-visitor", "m1"))
    post_track(_pv("shared-visitor", "m2"))
    a_customer = _owner(a_ws, "shared-visitor")
    a_visit = Visit.objects.get(workspace=a_ws)
    a_before = (a_visit.event_count, a_visit.last_event_at, Customer.objects.get(pk=a_customer.pk).last_seen)
    paths.reset()

    # The same visitor id and message ids in workspace B: B's own device, customer and visit.
    r = post_track(_pv("shared-visitor", "m1"), key=other_tenant.write_key)
    assert r.json() == ANSWER_ONE
    assert paths.full == [["m1"]] and paths.confirmed == []
    b_customer = _owner(b_ws, "shared-visitor")
    assert b_customer.pk != a_customer.pk and b_customer.workspace_id == b_ws.pk
    # Workspace B's cache entry forged to name A's customer: the re-check (scoped to B) refuses it.
    entry = _cached(b_ws, "shared-visitor")
    assert entry is not None and entry["cust"] == b_customer.pk
    hotcache.json_set_many({_cache_key(b_ws, "shared-visitor"): {**entry, "cust": a_customer.pk}}, ttl=600)
    paths.reset()
    assert post_track(_pv("shared-visitor", "m2"), key=other_tenant.write_key).json() == ANSWER_ONE
    assert paths.refused == ["m2"] and paths.full == [["m2"]]
    assert _event(b_ws, "m2").customer_id == b_customer.pk
    paths.reset()
    assert post_track(_pv("shared-visitor", "m3"), key=other_tenant.write_key).json() == ANSWER_ONE
    assert paths.confirmed == ["m3"] and _event(b_ws, "m3").customer_id == b_customer.pk

    assert set(Event.objects.filter(workspace=b_ws).values_list("customer_id", flat=True)) == {b_customer.pk}
    assert set(Event.objects.filter(workspace=a_ws).values_list("message_id", "customer_id")) == {
        ("m1", a_customer.pk),
        ("m2", a_customer.pk),
    }
    a_visit.refresh_from_db()
    a_after = (a_visit.event_count, a_visit.last_event_at, Customer.objects.get(pk=a_customer.pk).last_seen)
    assert a_after == a_before
    _assert_events_on_live_customers(a_ws)
    _assert_events_on_live_customers(b_ws)


def test_when_one_of_a_persons_devices_starts_a_new_visit_all_their_events_take_the_full_path(
    post_track, tenant, paths
):
    """A new visit goes the full path; so does every event of the same (cached) person in the request,
    so that person's events are applied in the request's order."""
    ws = tenant.workspace
    t0 = _ago(20)
    post_track(_identify("dev-1", "a1", "sam@example.com", at=t0, session="s1"))
    post_track(_identify("dev-2", "b1", "sam@example.com", at=t0, session="s2"))
    post_track(_pv("dev-1", "a2", at=t0 + datetime.timedelta(minutes=1), session="s1"))  # owners cached
    post_track(_pv("dev-2", "b2", at=t0 + datetime.timedelta(minutes=1), session="s2"))
    person = _owner(ws, "dev-1")
    assert _owner(ws, "dev-2") == person
    assert _cached_owner(ws, "dev-1") == _cached_owner(ws, "dev-2") == person.pk
    paths.reset()

    r = post_track(
        {
            "batch": [
                _pv("dev-2", "b3", at=t0 + datetime.timedelta(minutes=2), session="s2"),  # continues s2
                _pv("dev-1", "a3", at=t0 + datetime.timedelta(minutes=2), session="s3"),  # a new visit
            ]
        }
    )
    assert r.json() == {"accepted": 2, "duplicates": 0, "suppressed": 0, "bots": 0, "rejected": [], "warnings": []}
    assert paths.full == [["b3", "a3"]] and paths.confirmed == [] and paths.refused == []
    assert {_event(ws, m).customer_id for m in ("a3", "b3")} == {person.pk}
    counts = dict(Visit.objects.filter(workspace=ws).values_list("session_id", "event_count"))
    assert counts == {"s1": 2, "s2": 3, "s3": 1}
