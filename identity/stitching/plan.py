"""Who an event belongs to: the merge guards as a pure function over what the lookup found.

Rules (DESIGN "Stitching rules"; over-merging is worse than under-merging):
- Identifiers that arrive together in one event are linked: their owners are merged into the
  survivor (highest rung, then oldest first_seen, then lowest id).
- Two customers with different user_ids are never merged. The event's own user_id decides first:
  an owner with another user_id is left alone (it keeps its identifiers, nothing of this event is
  attached to it). Without a user_id on the event, owners are taken in survivor order and the first
  user_id seen wins; later owners with a different one are left alone. The event goes to the
  survivor, which is the owner of the event's user_id whenever that user_id is already known.
- Shared device: a device owned by a customer that is identified by an email, phone or user_id,
  when the event carries a different value of a kind that customer already has and no other claim
  of the event belongs to that customer, is a different person on the same device. The device
  identifier moves to the event's person (from this event on; past events stay) and is logged as a
  split.
- Only the first user_id claim of an event is used (one person signs in as one account).
"""

from dataclasses import dataclass, field
from datetime import datetime

from identity.models import IdentifierKind
from tracking.normalize import IdentifierClaim

ClaimKey = tuple[str, str]
IDENTIFYING_KINDS = (IdentifierKind.EMAIL, IdentifierKind.PHONE, IdentifierKind.USER_ID)


@dataclass(frozen=True)
class OwnerInfo:
    customer_id: int
    rung: int
    first_seen: datetime
    # kind -> hashes, for the identifying kinds (email, phone, user_id) the customer owns.
    identified: dict[str, frozenset[str]]

    @property
    def user_ids(self) -> frozenset[str]:
        return self.identified.get(IdentifierKind.USER_ID, frozenset())

    @property
    def survivor_rank(self) -> tuple[int, datetime, int]:
        return (-self.rung, self.first_seen, self.customer_id)


@dataclass
class Plan:
    target_id: int | None  # None: a new customer is created for the event
    merge_ids: list[int] = field(default_factory=list)  # merged into the target (the survivor)
    attach: list[IdentifierClaim] = field(default_factory=list)  # new identifiers for the target
    device_moves: list[tuple[int, int]] = field(default_factory=list)  # (identifier id, from customer id)
    left_alone: list[int] = field(default_factory=list)  # owners with a different user_id
    ignored: list[IdentifierClaim] = field(default_factory=list)  # extra user_ids of the event


def claim_key(claim: IdentifierClaim) -> ClaimKey:
    return (claim.kind, claim.value_hash)


def stitch_plan(
    *,
    claims: list[IdentifierClaim],
    found: dict[ClaimKey, tuple[int, int]],
    owners: dict[int, OwnerInfo],
) -> Plan:
    """claims: the event's distinct claims; found: claim -> (identifier id, owner customer id) for the
    claims that already exist; owners: the owners' facts."""
    user_id_claims = [c for c in claims if c.kind == IdentifierKind.USER_ID]
    ignored = user_id_claims[1:]
    used = [c for c in claims if c not in ignored]
    event_user_id = user_id_claims[0].value_hash if user_id_claims else None

    strong = [c for c in used if c.kind != IdentifierKind.DEVICE]
    devices = [c for c in used if c.kind == IdentifierKind.DEVICE]
    strong_owners = {found[claim_key(c)][1] for c in strong if claim_key(c) in found}
    event_kinds = {c.kind for c in strong if c.kind in IDENTIFYING_KINDS}

    candidates = set(strong_owners)
    shared_devices: list[tuple[int, int]] = []
    for claim in devices:
        hit = found.get(claim_key(claim))
        if hit is None:
            continue
        identifier_id, owner_id = hit
        if owner_id in strong_owners:
            continue
        owner = owners[owner_id]
        if any(kind in owner.identified for kind in event_kinds):
            shared_devices.append((identifier_id, owner_id))
        else:
            candidates.add(owner_id)

    included: list[int] = []
    left_alone: list[int] = []
    account = event_user_id
    for owner_id in sorted(candidates, key=lambda cid: owners[cid].survivor_rank):
        user_ids = owners[owner_id].user_ids
        if not user_ids:
            included.append(owner_id)
        elif account is None and len(user_ids) == 1:
            account = next(iter(user_ids))
            included.append(owner_id)
        elif user_ids == {account}:
            included.append(owner_id)
        else:
            left_alone.append(owner_id)

    return Plan(
        target_id=included[0] if included else None,
        merge_ids=included[1:],
        attach=[c for c in used if claim_key(c) not in found],
        device_moves=shared_devices,
        left_alone=left_alone,
        ignored=ignored,
    )
