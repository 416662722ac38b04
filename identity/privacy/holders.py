"""Personal data kept by the apps above identity, and how the privacy area reaches it.

An erasure, a retention purge, an export and an opt-out cover everything about a person, but some
of it is kept by apps above identity: conversations and messages (agents), raw webhook payloads,
tracked links and destination deliveries (integrations). Identity never imports them (DESIGN: the
apps form layers; an erasure of everything reaches the other apps through a hook): each registers a
`PersonalDataHolder` in its AppConfig.ready(), and the privacy area calls every holder, lowest
`order` first (integrations' tracked links go before the agents' messages they were made for).
Rows that point at a customer through a foreign key go with the customer in any case (an erasure
deletes every row that points at the person, `erasure._related_rows_delete`); a holder covers what a
foreign key does not find, and counts."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from identity.privacy.zipentries import Entry
from workspaces.models import Workspace


@dataclass
class PersonDeletion:
    """One person being deleted: an erasure, or retention deleting someone with nothing left."""

    workspace: Workspace
    customer_ids: list[int]
    erasure: bool
    # The person's contact values as they may appear in stored raw payloads (email, URL-encoded
    # email, phone digits).
    needles: list[str]
    # Ids providers know the person's messages by (status callbacks that name nobody else); holders
    # add them in `person_collect`, before anything is deleted.
    provider_ids: list[str] = field(default_factory=list)


# Before anything of the person is deleted: note what a later step needs (on the deletion, or in the
# step itself); returns the step that deletes what the holder keeps beyond foreign keys (run after
# identity's events, visits and consent records, before the rows that point at the customer go),
# answering outcome counts by name, or None.
PersonCollect = Callable[[PersonDeletion], Callable[[], dict[str, int]] | None]


@dataclass(frozen=True)
class PersonalDataHolder:
    name: str
    order: int = 100
    person_collect: PersonCollect | None = None
    # Outcome names of an erasure counted from the rows deleted with the customer: {"messages": "agents.Message"}.
    deleted_counts: dict[str, str] = field(default_factory=dict)
    # Of these customer ids, those with rows here (retention keeps a person who has something left).
    customers_with_rows: Callable[[list[int]], set[int]] | None = None
    # Retention: delete the workspace's rows from before the cutoff, `batch_size` at a time; counts by name.
    purge: Callable[[Workspace, datetime, int], dict[str, int]] | None = None
    # An opt-out of these purposes: cancel what is queued for these customers; returns how many.
    marketing_cancel: Callable[[Workspace, list[int], list[str]], int] | None = None
    # Export entries of one person (workspace, customer ids, format) and of a whole workspace (id,
    # format), and the rows a workspace export writes (for its progress).
    person_entries: Callable[[Workspace, list[int], str], list[Entry]] | None = None
    workspace_entries: Callable[[int, str], list[Entry]] | None = None
    workspace_rows: Callable[[int], int] | None = None


_holders: list[PersonalDataHolder] = []


def holder_register(holder: PersonalDataHolder) -> None:
    if all(h.name != holder.name for h in _holders):
        _holders.append(holder)
        _holders.sort(key=lambda h: h.order)


def holders() -> list[PersonalDataHolder]:
    return list(_holders)
