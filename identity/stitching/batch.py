"""IdentityBatch: the ONE resolver. The stitcher runs it over a batch of pending events (in receive
order, inside the batch's transaction) with one lookup and one lock order.

    with transaction.atomic():
        batch = IdentityBatch(workspace=ws, claims=[claims of every event of the batch])
        for each event:                   # in receive order
            resolution = batch.resolve(claims=..., signals=..., traits=..., occurred_at=...)
            ...                           # build the Event with resolution.customer_id / .rung
        ...                               # INSERT the events, move the visits on
        batch.flush()                     # customer and identifier changes, in id order

Locking (why concurrent batches cannot deadlock on customers):
- The constructor runs ONE query for all claims of the request: the identifiers with their live
  owners, the owners locked FOR NO KEY UPDATE in primary-key order (the order every writer uses,
  DESIGN "Stitching rules" 6), the identifiers FOR SHARE (so one moved by a split this query waited
  for is seen moved). This is the only point where an ingest waits for a customer.
- An event whose identifiers all exist and belong to one live customer (the fast path) is resolved
  in memory from that row: no query, no savepoint. Its changes (rung, number, contact values,
  traits, first/last seen, devices' visit counts) are collected and written by `flush`, customers
  in id order in one UPDATE ... FROM (VALUES ...), identifiers likewise.
- An event none of whose claims anybody owns (a new device, a new person), or whose new claims join
  a customer this batch created, is resolved in memory too, when none of its new claims is on the
  suppression list and the merge guards (identity.stitching.plan, the same function the slow path
  asks) find nothing to merge or split: the customer and identifiers get keys reserved up front
  (`ids_reserve`) and are inserted by `flush` with one INSERT per table (`created_insert`, which the
  stitcher calls before inserting the events). A batch of 1,000 new devices is then about 20
  statements instead of 12 per event.
- Any other event (new identifiers of a customer already stored, several owners, a guard, the
  suppression list) takes the per-event slow path,
  `identity.stitching.resolve.resolve_locked` (its own savepoint, owners locked in key order,
  merges, splits, the suppression list). Pending changes are flushed first so it reads the truth,
  and what it touched (its customer, the customers merged into it, the owners a device moved from,
  its claims) is forgotten and read again, locked, when a later event of the batch needs it.

Semantics are those of resolving the events one at a time in order, each in its own batch (same
customers, rungs per event and guards, `suppressed` from the customer's consent on the fast path):
tests/identity/test_batch.py and tests/identity/test_pipeline_splits.py hold it to that.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import connection

from clarm.rowsinsert import bound_cursor, model_rows_insert, rows_json
from identity.models import Customer, CustomerStatus, Identifier, IdentifierKind, Rung, Suppression
from identity.stitching.ladder import customer_number_next
from identity.stitching.plan import IDENTIFYING_KINDS, ClaimKey, OwnerInfo, claim_key, stitch_plan
from identity.stitching.resolve import Resolution, event_changes, resolve_locked
from tracking.ladder import LadderSignals
from tracking.normalize import Claims, IdentifierClaim
from tracking.purposes import Consent
from workspaces.models import Workspace

# The customer columns the fast path reads and may write (the consent flag is only read).
_WRITABLE = ("rung", "customer_number", "email", "phone", "name", "company", "traits", "first_seen", "last_seen")
_PG_TYPES = {
    "rung": "smallint",
    "customer_number": "integer",
    "email": "text",
    "phone": "text",
    "name": "text",
    "company": "text",
    "traits": "jsonb",
    "first_seen": "timestamptz",
    "last_seen": "timestamptz",
}
_LOOKUP_CACHE: dict[tuple[int, bool], str] = {}
SLOW_PATH_LOCK_TIMEOUT = "300ms"


@dataclass
class _Owner:
    """A locked live customer as the fast path needs it (no model instance)."""

    id: int
    rung: int
    customer_number: int | None
    email: str
    phone: str
    name: str
    company: str
    traits: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    allow_analytics: bool
    consent: Consent
    dirty: set[str] = field(default_factory=set)

    def set(self, name: str, value: Any) -> None:
        setattr(self, name, value)
        self.dirty.add(name)


@dataclass
class _Ident:
    id: int
    kind: str
    customer_id: int
    visit_count: int


def ids_reserve(model: type[Customer] | type[Identifier], n: int) -> list[int]:
    """n primary keys for rows of this model that this transaction will insert itself. PostgreSQL: from
    the table's sequence (never handed out again, even if the transaction rolls back). SQLite: past
    the highest key ever used (its AUTOINCREMENT counter); the embedded default's IMMEDIATE
    transactions hold the database's one write lock, so no other writer takes them meanwhile, and the
    caller inserts them before anything else of this transaction inserts into the table."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, n])
            return [row[0] for row in cursor.fetchall()]
        cursor.execute(
            f"SELECT MAX(COALESCE((SELECT MAX(id) FROM {table}), 0), "  # noqa: S608 (table name from the model)
            "COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0))",
            [table],
        )
        last = int(cursor.fetchone()[0])
    return list(range(last + 1, last + 1 + n))


def _lookup_sql(n: int, *, postgresql: bool) -> str:
    """The lookup statement for n claims, built once per (n, vendor) and kept for the process. On
    PostgreSQL the claims are two array parameters whatever n is (one statement text, cheap to parse)."""
    key = (0 if postgresql else n, postgresql)
    sql = _LOOKUP_CACHE.get(key)
    if sql is None:
        ident, cust = Identifier._meta.db_table, Customer._meta.db_table
        if postgresql:
            pairs = "(i.kind, i.value_hash) IN (SELECT * FROM unnest(%s::varchar[], %s::varchar[]))"
        else:
            # A row-value list, not an OR chain: SQLite refuses expressions deeper than 1,000 terms,
            # which a batch of 500 events with two identifiers each would reach.
            pairs = "(i.kind, i.value_hash) IN (VALUES " + ", ".join(["(%s, %s)"] * n) + ")"
        sql = (
            "SELECT i.id, i.kind, i.value_hash, i.visit_count, c.id, c.rung, c.customer_number, c.email, "  # noqa: S608 (table names from the models, values as parameters)
            "c.phone, c.name, c.company, c.traits, c.first_seen, c.last_seen, c.allow_analytics, "
            "c.allow_marketing_email, c.allow_marketing_sms "
            f"FROM {ident} i INNER JOIN {cust} c ON c.id = i.customer_id "
            f"WHERE i.workspace_id = %s AND c.status = %s AND ({pairs}) ORDER BY c.id, i.id"
        )
        if postgresql:
            # Customers in key order (the one lock order of every writer), each with its identifiers
            # share-locked right after it. The identifier lock matters when this waits for an owner's
            # split or merge: PostgreSQL then re-reads the locked rows, and an identifier the writer
            # moved to another customer drops out of the result (the event then takes the slow path,
            # which reads the new owner) instead of being read as it was before.
            sql += " FOR NO KEY UPDATE OF c FOR SHARE OF i"
        if len(_LOOKUP_CACHE) < 1024:
            _LOOKUP_CACHE[key] = sql
    return sql


def _datetime(value: Any) -> datetime:
    # SQLite (the embedded default) returns text without a zone; Django stores UTC there.
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class IdentityBatch:
    def __init__(self, *, workspace: Workspace, claims: list[Claims]) -> None:
        self.workspace = workspace
        self.idents: dict[ClaimKey, _Ident] = {}
        self.owners: dict[int, _Owner] = {}
        self.stale: set[ClaimKey] = set()  # to be read again (a slow path changed their owner)
        self.visit_counts: dict[int, int] = {}  # identifier id -> visit count to raise it to
        self.numbers: set[int] = set()  # customers that reached rung 4 without a number
        # Customers and identifiers created by this batch in memory (keys reserved, rows not yet
        # inserted): inserted by `flush`, before anything reads them from the database.
        self.new_customers: list[int] = []
        # Customers created by this batch whose every identifier it knows (kind -> hashes of the
        # identifying kinds), so the merge guards can be decided for them in memory. A customer a slow
        # path touched leaves this map.
        self.complete: dict[int, dict[str, set[str]]] = {}
        self.new_identifiers: dict[int, IdentifierClaim] = {}
        self.reserved: dict[type[Customer] | type[Identifier], list[int]] = {Customer: [], Identifier: []}
        self.holds_locks = False
        keys = {claim_key(c) for group in claims for c in group.claims}
        self.keys = set(keys)
        self.suppressions: dict[ClaimKey, Consent] | None = None  # read on first need (one query)
        self._load(keys)

    def _load(self, keys: set[ClaimKey]) -> None:
        """ONE query for all these claims: identifiers with their live owners, owners locked in key order."""
        if not keys:
            return
        ordered = sorted(keys)
        postgresql = connection.vendor == "postgresql"
        params: list[Any] = [self.workspace.pk, CustomerStatus.LIVE]
        if postgresql:
            params += [[kind for kind, _ in ordered], [value_hash for _, value_hash in ordered]]
        else:
            for kind, value_hash in ordered:
                params += [kind, value_hash]
        sql = _lookup_sql(len(ordered), postgresql=postgresql)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        self.holds_locks = self.holds_locks or bool(rows)
        for ident_id, kind, value_hash, visit_count, cid, *rest in rows:
            self.idents[(kind, value_hash)] = _Ident(id=ident_id, kind=kind, customer_id=cid, visit_count=visit_count)
            if cid not in self.owners:
                rung, number, email, phone, name, company, traits, first_seen, last_seen, allow, mail, sms = rest
                self.owners[cid] = _Owner(
                    id=cid,
                    rung=rung,
                    customer_number=number,
                    email=email,
                    phone=phone,
                    name=name,
                    company=company,
                    traits=traits if isinstance(traits, dict) else json.loads(traits or "{}"),
                    first_seen=_datetime(first_seen),
                    last_seen=_datetime(last_seen),
                    allow_analytics=bool(allow),
                    consent=Consent(analytics=bool(allow), marketing_email=bool(mail), marketing_sms=bool(sms)),
                )

    def _refresh(self, wanted: dict[ClaimKey, IdentifierClaim]) -> None:
        if self.stale.intersection(wanted):
            # Read again everything a slow path changed (one query), not just this event's claims.
            refresh, self.stale = self.stale, set()
            for key in refresh:
                self.idents.pop(key, None)
            self._load(refresh)

    def consent_of(self, claims: Claims) -> Consent:
        """What the person these claims point at allows, before anything of the event is applied: the
        most restrictive of the live owners of the known claims (an opt-out is never undone by a
        merge) and of the hashed suppression list for the claims no live customer owns (a person
        erased after opting out). Reads nothing for claims whose owners are already loaded."""
        distinct = {claim_key(c): c for c in claims.claims}
        self._refresh(distinct)
        consent = Consent()
        unknown = []
        for key in distinct:
            ident = self.idents.get(key)
            owner = self.owners.get(ident.customer_id) if ident is not None else None
            if owner is not None:
                consent = consent.restrict(owner.consent)
            else:
                unknown.append(key)
        if unknown:
            suppressed = self._suppressions()
            for key in unknown:
                consent = consent.restrict(suppressed.get(key, Consent()))
        return consent

    def _suppressions(self) -> dict[ClaimKey, Consent]:
        """The suppression rows of every claim of the request (one query, the first time)."""
        if self.suppressions is None:
            rows = Suppression.objects.filter(
                workspace=self.workspace,
                kind__in={kind for kind, _ in self.keys},
                value_hash__in={value_hash for _, value_hash in self.keys},
            ).values_list("kind", "value_hash", "analytics", "marketing_email", "marketing_sms")
            self.suppressions = {
                (kind, value_hash): Consent(analytics=not a, marketing_email=not m, marketing_sms=not s)
                for kind, value_hash, a, m, s in rows
                if (kind, value_hash) in self.keys
            }
        return self.suppressions

    def resolve(
        self, *, claims: Claims, signals: LadderSignals, traits: dict[str, Any], occurred_at: datetime
    ) -> Resolution:
        distinct: dict[ClaimKey, IdentifierClaim] = {}
        for claim in sorted(claims.claims, key=claim_key):
            distinct.setdefault(claim_key(claim), claim)
        if not distinct:
            return Resolution(customer_id=None, rung=Rung.DEVICE, suppressed=False)
        self._refresh(distinct)
        found = [self.idents.get(key) for key in distinct]
        owner_ids = {i.customer_id for i in found if i is not None}
        if None not in found and len(owner_ids) == 1 and (owner := self.owners.get(next(iter(owner_ids)))):
            return self._apply(
                owner, [i for i in found if i is not None], list(distinct.values()), signals, traits, occurred_at
            )
        if len(owner_ids) <= 1:
            unknown = [key for key, ident in zip(distinct, found, strict=True) if ident is None]
            if not any(key in self._suppressions() for key in unknown):
                resolution = self._attach(distinct, found, owner_ids, signals, traits, occurred_at)
                if resolution is not None:
                    return resolution
        return self._slow(list(distinct.values()), signals, traits, occurred_at)

    def _reserve(self, model: type[Customer] | type[Identifier]) -> int:
        pool = self.reserved[model]
        if not pool:
            # Enough for every claim of the batch still unknown (a new customer has at least one).
            pool += ids_reserve(model, max(1, len(self.keys - self.idents.keys())))
        return pool.pop(0)

    def _attach(
        self,
        distinct: dict[ClaimKey, IdentifierClaim],
        found: list[_Ident | None],
        owner_ids: set[int],
        signals: LadderSignals,
        traits: dict[str, Any],
        occurred_at: datetime,
    ) -> Resolution | None:
        """In memory, what `resolve._resolve_slow` does for an event whose unknown claims are on no
        suppression list and whose known claims (if any) belong to one customer this batch created:
        create the customer (none known) or attach the new identifiers to it, when the merge guards
        (identity.stitching.plan) say the event is simply that person's. None: take the slow path.
        The rows are inserted by `flush`."""
        claims = list(distinct.values())
        known = {key: (ident.id, ident.customer_id) for key, ident in zip(distinct, found, strict=True) if ident}
        if owner_ids:
            cid = next(iter(owner_ids))
            identified = self.complete.get(cid)
            owner = self.owners.get(cid)
            if identified is None or owner is None:
                return None
            facts = OwnerInfo(
                customer_id=cid,
                rung=owner.rung,
                first_seen=owner.first_seen,
                identified={kind: frozenset(hashes) for kind, hashes in identified.items()},
            )
            plan = stitch_plan(claims=claims, found=known, owners={cid: facts})
            if plan.target_id != cid or plan.merge_ids or plan.device_moves:
                return None
        else:
            plan = stitch_plan(claims=claims, found={}, owners={})
            owner = _Owner(
                id=self._reserve(Customer),
                rung=Rung.DEVICE,
                customer_number=None,
                email="",
                phone="",
                name="",
                company="",
                traits={},
                first_seen=occurred_at,
                last_seen=occurred_at,
                allow_analytics=True,
                consent=Consent(),
            )
            self.owners[owner.id] = owner
            self.new_customers.append(owner.id)
            identified = self.complete[owner.id] = {}
        owned = [ident for ident in found if ident is not None]
        for claim in plan.attach:
            ident = _Ident(id=self._reserve(Identifier), kind=claim.kind, customer_id=owner.id, visit_count=0)
            self.idents[claim_key(claim)] = ident
            self.new_identifiers[ident.id] = claim
            owned.append(ident)
            if claim.kind in IDENTIFYING_KINDS:
                identified.setdefault(claim.kind, set()).add(claim.value_hash)
        owned_keys = set(known) | {claim_key(c) for c in plan.attach}
        resolution = self._apply(
            owner, owned, [c for c in claims if claim_key(c) in owned_keys], signals, traits, occurred_at
        )
        return Resolution(
            customer_id=resolution.customer_id,
            rung=resolution.rung,
            suppressed=resolution.suppressed,
            created=not owner_ids,
        )

    def _apply(
        self,
        owner: _Owner,
        owned: list[_Ident],
        claims: list[IdentifierClaim],
        signals: LadderSignals,
        traits: dict[str, Any],
        occurred_at: datetime,
    ) -> Resolution:
        """What `resolve._event_apply` does on the slow path, in memory: the writes wait for `flush`."""
        changes, needs_number = event_changes(
            owner,
            claims=claims,
            signals=signals,
            traits=traits,
            occurred_at=occurred_at,
            number_pending=owner.id in self.numbers,
        )
        if needs_number:
            self.numbers.add(owner.id)  # the number itself is taken at flush (the workspace row last)
        for field_name, value in changes.items():
            owner.set(field_name, value)
        count = signals.device_visit_count
        if count:
            for ident in owned:
                if ident.kind == IdentifierKind.DEVICE and ident.visit_count < count:
                    ident.visit_count = count
                    self.visit_counts[ident.id] = count
        return Resolution(customer_id=owner.id, rung=owner.rung, suppressed=not owner.allow_analytics)

    def _slow(
        self, claims: list[IdentifierClaim], signals: LadderSignals, traits: dict[str, Any], occurred_at: datetime
    ) -> Resolution:
        self.flush()  # the slow path reads customers and identifiers from the database
        if connection.vendor != "postgresql":
            # SQLite's reserved keys are only "past the highest used": the slow path may create rows.
            self.reserved = {Customer: [], Identifier: []}
        if self.holds_locks and connection.vendor == "postgresql":
            # The slow path may lock a customer out of key order (a survivor of a merge committed
            # since the lookup) while this transaction holds the request's customers: rather than
            # wait into a deadlock whose victim would be an innocent request, give up quickly and
            # let the whole request run again (events_ingest retries; it then locks in order).
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [SLOW_PATH_LOCK_TIMEOUT])
            try:
                resolution = resolve_locked(
                    workspace=self.workspace, claims=claims, signals=signals, traits=traits, occurred_at=occurred_at
                )
            finally:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT set_config('lock_timeout', '0', true)")
        else:
            resolution = resolve_locked(
                workspace=self.workspace, claims=claims, signals=signals, traits=traits, occurred_at=occurred_at
            )
        touched = {resolution.customer_id, *resolution.merged_customer_ids, *resolution.moved_from_customer_ids}
        for cid in touched:
            self.owners.pop(cid, None)  # type: ignore[arg-type]
            self.complete.pop(cid, None)  # type: ignore[arg-type]
        changed = {key for key, ident in self.idents.items() if ident.customer_id in touched}
        changed.update(claim_key(c) for c in claims)
        for key in changed:
            self.idents.pop(key, None)
        self.stale |= changed
        return resolution

    def created_insert(self) -> None:
        """Insert the customers and identifiers created in memory, as they are now (one INSERT each). New
        identifiers may belong to a customer inserted earlier in the batch (before a slow path)."""
        if not self.new_customers and not self.new_identifiers:
            return
        for cid in self.new_customers:
            owner = self.owners[cid]
            if cid in self.numbers and owner.customer_number is None:
                owner.customer_number = customer_number_next(self.workspace.pk)
            self.numbers.discard(cid)
        model_rows_insert(
            Customer,
            [
                {
                    "id": cid,
                    "workspace_id": self.workspace.pk,
                    **{name: getattr(self.owners[cid], name) for name in _WRITABLE},
                }
                for cid in self.new_customers
            ],
        )
        for cid in self.new_customers:
            self.owners[cid].dirty = set()
        idents = {ident.id: ident for ident in self.idents.values() if ident.id in self.new_identifiers}
        model_rows_insert(
            Identifier,
            [
                {
                    "id": ident_id,
                    "workspace_id": self.workspace.pk,
                    "customer_id": idents[ident_id].customer_id,
                    "kind": claim.kind,
                    "value_hash": claim.value_hash,
                    "masked": claim.masked,
                    "visit_count": idents[ident_id].visit_count,
                }
                for ident_id, claim in self.new_identifiers.items()
            ],
        )
        for ident_id in self.new_identifiers:
            self.visit_counts.pop(ident_id, None)
        self.new_customers, self.new_identifiers = [], {}

    def flush(self) -> None:
        """Write the collected changes: the customers and identifiers created in memory, identifiers'
        visit counts, then customers, each in id order. Every row written belongs to a customer this
        transaction has locked or created."""
        self.created_insert()
        if self.visit_counts:
            counts, self.visit_counts = sorted(self.visit_counts.items()), {}
            if connection.vendor == "postgresql":
                table = Identifier._meta.db_table
                values = ", ".join(["(%s::bigint, %s::integer)"] * len(counts))
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"UPDATE {table} AS i SET visit_count = v.n FROM (VALUES {values}) AS v(id, n) "  # noqa: S608 (table name from the model)
                        "WHERE i.id = v.id AND i.visit_count < v.n",
                        [x for pair in counts for x in pair],
                    )
            else:
                for ident_id, n in counts:
                    Identifier.objects.filter(pk=ident_id, visit_count__lt=n).update(visit_count=n)
        for cid in sorted(self.numbers):
            owner = self.owners.get(cid)
            if owner is not None and owner.customer_number is None:
                owner.set("customer_number", customer_number_next(self.workspace.pk))
        self.numbers = set()
        dirty = sorted((o for o in self.owners.values() if o.dirty), key=lambda o: o.id)
        if not dirty:
            return
        if connection.vendor == "postgresql" and len(dirty) > 1:
            self._customers_update(dirty)
        else:
            for owner in dirty:
                Customer.objects.filter(pk=owner.id).update(**{name: getattr(owner, name) for name in owner.dirty})
        for owner in dirty:
            owner.dirty = set()

    def _customers_update(self, dirty: list[_Owner]) -> None:
        """One UPDATE for several customers, the rows as one JSON parameter: the columns any of them
        changed (the rows are locked by this transaction, so the in-memory values are the current
        ones for the others)."""
        columns = [name for name in _WRITABLE if any(name in owner.dirty for owner in dirty)]
        rows = [{"id": owner.id, **{name: getattr(owner, name) for name in columns}} for owner in dirty]
        definition = ", ".join(f"{name} {_PG_TYPES[name]}" for name in columns)
        sets = ", ".join(f"{name} = v.{name}" for name in columns)
        with bound_cursor() as cursor:
            cursor.execute(
                f"UPDATE {Customer._meta.db_table} AS c SET {sets} "  # noqa: S608 (names from the model, values as one parameter)
                f"FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, {definition}) WHERE c.id = v.id",
                [rows_json(rows)],
            )
