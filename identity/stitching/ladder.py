"""The identity ladder: what lifts a customer's rung, and recomputing it from stored facts.

Stored facts the recompute reads (so callers must write them):
- device identifiers' `visit_count` (kept up to date by the stitcher's resolver, IdentityBatch, from
  `LadderSignals.device_visit_count`) and `tracking.Visit` rows per `device_hash` → rung 1;
- an email identifier → rung 2;
- events whose `context["ladder"] == "phone"` → rung 3 (the edge stores `ladder_context_value`'s
  answer when the event is on a phone channel);
- events whose `context["ladder"] == "account"`, or a user_id identifier → rung 4 (the edge stores
  `"account"` for an account signal).

What the edge records for the ladder (`LadderSignals`, `ladder_context_value`) is tracking's:
tracking.ladder.
"""

from django.db import connection
from django.db.models import Count

from identity.models import Customer, Identifier, IdentifierKind, Rung
from tracking.ladder import LADDER_ACCOUNT, LADDER_PHONE, LadderSignals
from tracking.models import Event, Visit
from workspaces.models import Workspace


def rung_from_event(*, kinds: set[str], signals: LadderSignals) -> int:
    """The rung one event proves on its own, from the identifier kinds it carries and its signals.
    A phone claim alone proves nothing (a number typed into a form does not lift the rung)."""
    if signals.account or IdentifierKind.USER_ID in kinds:
        return Rung.ACCOUNT
    if signals.phone_channel:
        return Rung.PHONE
    if IdentifierKind.EMAIL in kinds:
        return Rung.EMAIL
    if signals.device_visit_count >= 2 and IdentifierKind.DEVICE in kinds:
        return Rung.VISITOR
    return Rung.DEVICE


def customer_rung_recompute(customer: Customer) -> int:
    """The rung the customer's stored identifiers and events prove (used after a split or an undo,
    where the rung may go down). Returns the rung; the caller saves it."""
    identifiers = list(Identifier.objects.filter(customer=customer).values_list("kind", "value_hash", "visit_count"))
    kinds = {kind for kind, _, _ in identifiers}
    if IdentifierKind.USER_ID in kinds:
        return Rung.ACCOUNT
    ladders = set(
        Event.objects.filter(customer=customer, context__ladder__in=[LADDER_PHONE, LADDER_ACCOUNT])
        .values_list("context__ladder", flat=True)
        .distinct()
    )
    if LADDER_ACCOUNT in ladders:
        return Rung.ACCOUNT
    if LADDER_PHONE in ladders:
        return Rung.PHONE
    if IdentifierKind.EMAIL in kinds:
        return Rung.EMAIL
    devices = [(value_hash, visits) for kind, value_hash, visits in identifiers if kind == IdentifierKind.DEVICE]
    if any(visits >= 2 for _, visits in devices):
        return Rung.VISITOR
    if devices and (
        Visit.objects.filter(workspace_id=customer.workspace_id, device_hash__in=[h for h, _ in devices])
        .values("device_hash")
        .annotate(n=Count("id"))
        .filter(n__gte=2)
        .exists()
    ):
        return Rung.VISITOR
    return Rung.DEVICE


def customer_number_next(workspace_id: int) -> int:
    """Take the workspace's next customer number. One UPDATE ... RETURNING: the row lock it takes is
    held until the caller's transaction ends, so two transactions never get the same number, and a
    number taken by a transaction that later rolls back is simply skipped (numbers are never reused)."""
    table = Workspace._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET next_customer_number = next_customer_number + 1 "  # noqa: S608 (table name from the model)
            "WHERE id = %s RETURNING next_customer_number - 1",
            [workspace_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise Workspace.DoesNotExist(f"workspace {workspace_id} does not exist")
    return int(row[0])
