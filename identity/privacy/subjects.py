"""Who a data subject is: the live customer, every customer merged into it, and their identifiers.

Stitching keeps one live customer per person; merged customers point at it through `merged_into`.
Privacy actions (opt-out, export, erasure) always act on that whole group.
"""

import hashlib
import hmac
from dataclasses import dataclass, field

from identity.models import Customer, CustomerStatus, Identifier, IdentifierKind
from workspaces.models import Workspace


def customer_live(customer: Customer) -> Customer:
    """Follow `merged_into` to the customer that survived (guarding against loops)."""
    seen: set[int] = set()
    while customer.status == CustomerStatus.MERGED and customer.merged_into_id and customer.pk not in seen:
        seen.add(customer.pk)
        nxt = Customer.objects.filter(workspace_id=customer.workspace_id, pk=customer.merged_into_id).first()
        if nxt is None:
            break
        customer = nxt
    return customer


def customer_group_ids(*, workspace: Workspace, customer: Customer) -> list[int]:
    """The live customer and every customer merged into it, directly or through a chain."""
    ids = {customer.pk}
    frontier = [customer.pk]
    while frontier:
        children = list(
            Customer.objects.filter(workspace=workspace, merged_into_id__in=frontier)
            .exclude(pk__in=ids)
            .values_list("pk", flat=True)
        )
        ids.update(children)
        frontier = children
    return sorted(ids)


def subject_ref(workspace: Workspace, customer_id: int) -> str:
    """A keyed hash naming the subject in requests and audit rows without personal data."""
    return hmac.new(workspace.identifier_key.encode(), f"subject:{customer_id}".encode(), hashlib.sha256).hexdigest()


@dataclass
class Subject:
    workspace: Workspace
    customer: Customer
    group_ids: list[int]
    identifiers: list[Identifier] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return subject_ref(self.workspace, self.customer.pk)

    @property
    def device_hashes(self) -> list[str]:
        return [i.value_hash for i in self.identifiers if i.kind == IdentifierKind.DEVICE]

    def has_email_hash(self, value_hash: str) -> bool:
        return any(i.kind == IdentifierKind.EMAIL and i.value_hash == value_hash for i in self.identifiers)


def subject_get(*, workspace: Workspace, customer: Customer) -> Subject:
    live = customer_live(customer)
    group = customer_group_ids(workspace=workspace, customer=live)
    identifiers = list(Identifier.objects.filter(workspace=workspace, customer_id__in=group).order_by("kind", "id"))
    return Subject(workspace=workspace, customer=live, group_ids=group, identifiers=identifiers)
