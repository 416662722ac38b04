"""Property-based: random event sequences over a small pool of devices, emails, phones and account
ids, with manual merges, device splits and undo in between. Invariants checked after every step."""

from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identity.models import Customer, CustomerStatus, Identifier, MergeLog
from identity.services import customers_merge_manual, device_split, merge_undo
from tests.identity.helpers import send, state
from tracking.models import Event

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DEVICES = ["dev-a1", "dev-b2", "dev-c3"]
EMAILS = ["ann@example.com", "bob@example.com"]
PHONES = ["+14155550101", "+14155550102"]
ACCOUNTS = ["acct-1", "acct-2"]


def maybe(pool):
    # Present two times in three, so identities collide and conflict often.
    return st.one_of(st.none(), st.sampled_from(pool), st.sampled_from(pool))


events = st.tuples(
    st.just("event"),
    st.fixed_dictionaries(
        {"device": maybe(DEVICES), "email": maybe(EMAILS), "phone": maybe(PHONES), "user_id": maybe(ACCOUNTS)}
    ),
    # The ladder's signals: the device's visit (its session), a phone channel, an account signal.
    st.fixed_dictionaries(
        {
            "session": st.sampled_from(["visit-1", "visit-2", "visit-3"]),
            "phone_channel": st.booleans(),
            "account_signal": st.booleans(),
        }
    ),
)
others = st.one_of(
    st.tuples(st.just("merge_and_undo"), st.integers(0, 5), st.integers(0, 5)),
    st.tuples(st.just("split_and_undo"), st.integers(0, 5)),
    st.tuples(st.just("undo_latest")),
)
# Mostly events (three in four), with owner actions and undo in between.
steps = st.lists(
    st.tuples(st.integers(0, 3), events, others).map(lambda t: t[1] if t[0] < 3 else t[2]),
    min_size=3,
    max_size=14,
)


def check_invariants(ws):
    # Every event that carried an identifier belongs to exactly one LIVE customer.
    assert not Event.objects.filter(workspace=ws, customer__status=CustomerStatus.MERGED).exists()
    assert not Event.objects.filter(workspace=ws, customer__isnull=True).exclude(device_hash="").exists()
    # Identifiers point only at live customers.
    assert not Identifier.objects.filter(workspace=ws, customer__status=CustomerStatus.MERGED).exists()
    # Never two different account ids on one live customer.
    crowded = (
        Identifier.objects.filter(workspace=ws, kind="user_id")
        .values("customer_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert not crowded.exists()
    # Rung 4 always comes with a customer number; numbers are unique (also a DB constraint).
    assert not Customer.objects.filter(workspace=ws, rung=4, customer_number__isnull=True).exists()
    # A merged customer's chain ends at a live customer.
    for merged in Customer.objects.filter(workspace=ws, status=CustomerStatus.MERGED):
        node, hops = merged, 0
        while node.status == CustomerStatus.MERGED:
            assert node.merged_into is not None and hops < 50
            node, hops = node.merged_into, hops + 1


def live_rungs(ws) -> dict[int, int]:
    return dict(Customer.objects.filter(workspace=ws, status=CustomerStatus.LIVE).values_list("id", "rung"))


def pick(ws, index: int) -> Customer | None:
    live = list(Customer.objects.filter(workspace=ws, status=CustomerStatus.LIVE).order_by("pk"))
    return live[index % len(live)] if live else None


def run_step(ws, step, n: int) -> bool:
    """Run one step; returns True when rungs may legitimately go down (undo or split)."""
    kind = step[0]
    if kind == "event":
        _, ids, signals = step
        resolution = send(ws, at=T + timedelta(minutes=n), source="channel", **signals, **ids)
        if any(ids.values()):
            assert resolution.customer_id is not None
            assert Customer.objects.get(pk=resolution.customer_id).rung == resolution.rung
        return False  # events (merges, shared-device splits included) never lower a rung
    if kind == "merge_and_undo":
        a, b = pick(ws, step[1]), pick(ws, step[2])
        if a is None or b is None or a.pk == b.pk:
            return False
        before = state(ws)
        a_uid = set(a.identifiers.filter(kind="user_id").values_list("value_hash", flat=True))
        b_uid = set(b.identifiers.filter(kind="user_id").values_list("value_hash", flat=True))
        try:
            log = customers_merge_manual(workspace=ws, survivor=a, merged=b, actor=None)
        except ValidationError:
            assert a_uid and b_uid and a_uid != b_uid
            assert state(ws) == before
            return False
        check_invariants(ws)
        merge_undo(workspace=ws, merge_log=log, actor=None)
        assert state(ws) == before
        return False
    if kind == "split_and_undo":
        customer = pick(ws, step[1])
        if customer is None:
            return False
        device = customer.identifiers.filter(kind="device").first()
        if device is None or customer.identifiers.count() < 2:
            return False
        before = state(ws)
        log = device_split(workspace=ws, customer=customer, identifier=device, actor=None)
        check_invariants(ws)
        merge_undo(workspace=ws, merge_log=log, actor=None)
        assert state(ws) == before
        return False
    latest = MergeLog.objects.filter(workspace=ws, undone_at__isnull=True).order_by("-pk").first()
    if latest is not None:
        merge_undo(workspace=ws, merge_log=latest, actor=None)
    return True


@settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps)
def test_stitching_invariants_hold_for_any_sequence(tenant, steps):
    ws = tenant.workspace
    with transaction.atomic():
        rungs: dict[int, int] = {}
        for n, step in enumerate(steps):
            may_go_down = run_step(ws, step, n)
            check_invariants(ws)
            now = live_rungs(ws)
            if not may_go_down:
                for customer_id, rung in now.items():
                    assert rung >= rungs.get(customer_id, 0), (step, customer_id)
            rungs = now
        transaction.set_rollback(True)
