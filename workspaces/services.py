"""Writes to tenants. Each is atomic and leaves an audit row; emails go out after commit."""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.text import slugify

from workspaces.emails import invitation_email_send
from workspaces.keys import key_generate, key_lookup_value
from workspaces.models import ApiKey, ApiKeyKind, AuditLog, ConsentMode, Invitation, Membership, Role, Workspace
from workspaces.roles import role_at_least
from workspaces.validation import (
    country_validate,
    emails_parse,
    origins_parse,
    region_validate,
    retention_validate,
    timezone_validate,
)


class WorkspaceRuleError(Exception):
    """A change that would break a rule of the workspace (e.g. leave it without an owner).

    The message is meant for the person who asked for the change."""


def audit_log_record(
    *,
    workspace: Workspace,
    actor: User | None,
    action: str,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> AuditLog:
    return AuditLog.objects.create(
        workspace=workspace,
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        target=target,
        details=details or {},
    )


def _unique_slug(name: str) -> str:
    base = slugify(name)[:60] or "workspace"
    slug, n = base, 2
    while Workspace.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


# --- keys ---------------------------------------------------------------------------------------


@transaction.atomic
def api_key_create(*, workspace: Workspace, kind: str, actor: User | None) -> tuple[ApiKey, str]:
    """Create a key and return it with its plain value (shown once for a secret key)."""
    plain = key_generate(kind)
    key = ApiKey.objects.create(
        workspace=workspace,
        kind=kind,
        prefix=plain[:10],
        lookup=key_lookup_value(kind, plain),
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    audit_log_record(
        workspace=workspace, actor=actor, action="api_key.created", target=key.prefix, details={"kind": kind}
    )
    return key, plain


@transaction.atomic
def api_key_rotate(*, workspace: Workspace, kind: str, actor: User | None) -> tuple[ApiKey, str]:
    """Revoke every active key of that kind and create a new one."""
    now = timezone.now()
    revoked = list(
        ApiKey.objects.select_for_update()
        .filter(workspace=workspace, kind=kind, revoked_at__isnull=True)
        .values_list("prefix", flat=True)
    )
    ApiKey.objects.filter(workspace=workspace, kind=kind, revoked_at__isnull=True).update(revoked_at=now)
    key, plain = api_key_create(workspace=workspace, kind=kind, actor=actor)
    audit_log_record(
        workspace=workspace,
        actor=actor,
        action="api_key.rotated",
        target=key.prefix,
        details={"kind": kind, "revoked": revoked},
    )
    return key, plain


@transaction.atomic
def api_key_revoke(*, workspace: Workspace, key_id: int, actor: User | None) -> ApiKey:
    """Revoke one secret key of the workspace. The write key is rotated, never just revoked, so the
    installed snippet always has a key to move to."""
    key = ApiKey.objects.select_for_update().filter(workspace=workspace, pk=key_id, revoked_at__isnull=True).first()
    if key is None:
        raise Http404("No such active key in this workspace.")
    if key.kind != ApiKeyKind.SECRET:
        raise WorkspaceRuleError("The write key cannot be revoked on its own: rotate it instead.")
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])
    audit_log_record(
        workspace=workspace, actor=actor, action="api_key.revoked", target=key.prefix, details={"kind": key.kind}
    )
    return key


# --- workspace ----------------------------------------------------------------------------------


@transaction.atomic
def workspace_create(
    *,
    name: str,
    owner: User,
    timezone_name: str = "UTC",
    region: str | None = None,
    default_country: str = "US",
) -> tuple[Workspace, str, str]:
    """Create a workspace with its owner, a write key and a secret key.

    Returns the workspace and the plain write and secret keys.
    """
    workspace = Workspace.objects.create(
        name=_name_clean(name),
        slug=_unique_slug(name),
        timezone=timezone_validate(timezone_name),
        region=region_validate(region or settings.CLARM_REGION),
        default_country=country_validate(default_country),
        summary_recipients=[owner.email] if getattr(owner, "email", "") else [],
    )
    Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    audit_log_record(
        workspace=workspace,
        actor=owner,
        action="workspace.created",
        target=workspace.slug,
        details={"name": workspace.name, "region": workspace.region, "timezone": workspace.timezone},
    )
    _, write_plain = api_key_create(workspace=workspace, kind=ApiKeyKind.WRITE, actor=owner)
    _, secret_plain = api_key_create(workspace=workspace, kind=ApiKeyKind.SECRET, actor=owner)
    return workspace, write_plain, secret_plain


def _name_clean(value: Any) -> str:
    name = str(value).strip()
    if not name:
        raise ValidationError("A workspace needs a name.")
    if len(name) > 120:
        raise ValidationError("A workspace name has at most 120 characters.")
    return name


def _retention_clean(value: Any) -> int:
    try:
        months = int(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"Retention must be a whole number of months, not {value!r}.") from exc
    return retention_validate(months)


def _consent_clean(value: Any) -> str:
    if value not in ConsentMode.values:
        raise ValidationError(f"Unknown consent mode {value!r}: use one of {', '.join(ConsentMode.values)}.")
    return str(value)


def _lines(value: Any) -> str:
    return value if isinstance(value, str) else "\n".join(value)


# Settings an owner or admin may change, with the function that validates (and normalizes) each value.
SETTINGS_FIELDS: dict[str, Callable[[Any], Any]] = {
    "name": _name_clean,
    "timezone": timezone_validate,
    "default_country": country_validate,
    "retention_months": _retention_clean,
    "consent_mode": _consent_clean,
    "summary_recipients": lambda value: emails_parse(_lines(value)),
    "allowed_origins": lambda value: origins_parse(_lines(value)),
}


@transaction.atomic
def workspace_settings_update(
    *, workspace: Workspace, actor: User | None, changes: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Apply the changed settings and audit each with its value before and after.

    Raises ValidationError naming the bad value (nothing is saved then).

    Returns {field: {"before": …, "after": …}} for the fields whose value changed (empty: nothing did).
    """
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValidationError(f"These settings cannot be changed here: {', '.join(sorted(unknown))}.")
    locked = Workspace.objects.select_for_update().get(pk=workspace.pk)
    diff: dict[str, dict[str, Any]] = {}
    for field, raw in changes.items():
        value = SETTINGS_FIELDS[field](raw)
        before = getattr(locked, field)
        if before != value:
            diff[field] = {"before": before, "after": value}
            setattr(locked, field, value)
    if diff:
        locked.save(update_fields=list(diff))
        audit_log_record(
            workspace=locked,
            actor=actor,
            action="workspace.settings_changed",
            target=locked.slug,
            details={"changes": diff},
        )
        for field in diff:
            setattr(workspace, field, getattr(locked, field))
    return diff


# --- members and invitations ---------------------------------------------------------------------


def _actor_membership(*, workspace: Workspace, actor: User) -> Membership:
    membership = Membership.objects.filter(workspace=workspace, user=actor).first()
    if membership is None or not role_at_least(membership, Role.ADMIN):
        raise PermissionDenied("Only owners and admins manage the members of a workspace.")
    return membership


def _check_may_grant(actor_membership: Membership, role: str) -> None:
    if role not in Role.values:
        raise WorkspaceRuleError(f"Unknown role {role!r}: use owner, admin or member.")
    if role == Role.OWNER and actor_membership.role != Role.OWNER:
        raise PermissionDenied("Only an owner can make someone an owner.")


@transaction.atomic
def member_invite(*, workspace: Workspace, actor: User, email: str, role: str) -> Invitation:
    """Invite `email` with `role`; the email with the accept link leaves after commit."""
    actor_membership = _actor_membership(workspace=workspace, actor=actor)
    _check_may_grant(actor_membership, role)
    email = email.strip().lower()
    if Membership.objects.filter(workspace=workspace, user__email__iexact=email).exists():
        raise WorkspaceRuleError(f"{email} is already a member of this workspace.")
    now = timezone.now()
    pending = Invitation.objects.select_for_update().filter(
        workspace=workspace, email=email, accepted_at__isnull=True, revoked_at__isnull=True
    )
    for old in pending:
        if old.is_pending:
            raise WorkspaceRuleError(f"{email} already has a pending invitation: revoke it to send a new one.")
        # Expired: make room for the new one.
        old.revoked_at = now
        old.save(update_fields=["revoked_at"])
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(workspace=workspace, email=email, role=role, invited_by=actor)
    except IntegrityError as exc:  # a concurrent invite of the same address won
        raise WorkspaceRuleError(f"{email} already has a pending invitation.") from exc
    audit_log_record(
        workspace=workspace,
        actor=actor,
        action="invitation.sent",
        target=email,
        details={"role": role, "invitation": invitation.pk},
    )
    invitation_id = invitation.pk
    transaction.on_commit(lambda: invitation_email_send(invitation_id=invitation_id))
    return invitation


@transaction.atomic
def invitation_revoke(*, workspace: Workspace, actor: User, invitation_id: int) -> Invitation:
    actor_membership = _actor_membership(workspace=workspace, actor=actor)
    invitation = (
        Invitation.objects.select_for_update()
        .filter(workspace=workspace, pk=invitation_id, accepted_at__isnull=True, revoked_at__isnull=True)
        .first()
    )
    if invitation is None:
        raise Http404("No such pending invitation in this workspace.")
    if invitation.role == Role.OWNER and actor_membership.role != Role.OWNER:
        raise PermissionDenied("Only an owner can revoke an invitation to become owner.")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_log_record(
        workspace=workspace,
        actor=actor,
        action="invitation.revoked",
        target=invitation.email,
        details={"role": invitation.role, "invitation": invitation.pk},
    )
    return invitation


def user_has_verified_email(user: User, email: str) -> bool:
    from allauth.account.models import EmailAddress

    return EmailAddress.objects.filter(user=user, email__iexact=email, verified=True).exists()


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> Membership:
    """Join the workspace of a pending invitation addressed to one of the user's verified emails.

    Http404 when the token is unknown, used, revoked or expired; PermissionDenied for someone else's.
    """
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("workspace")
        .filter(token=token, accepted_at__isnull=True, revoked_at__isnull=True)
        .first()
    )
    if invitation is None or not invitation.is_pending:
        raise Http404("This invitation does not exist, was already used, was revoked or has expired.")
    if not user_has_verified_email(user, invitation.email):
        raise PermissionDenied(
            f"This invitation is for {invitation.email}. Log in with that address (verified) to accept it."
        )
    workspace = invitation.workspace
    membership, created = Membership.objects.get_or_create(
        workspace=workspace, user=user, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_log_record(
        workspace=workspace,
        actor=user,
        action="invitation.accepted",
        target=invitation.email,
        details={"role": membership.role, "invitation": invitation.pk, "already_member": not created},
    )
    if created:
        audit_log_record(
            workspace=workspace,
            actor=user,
            action="member.added",
            target=invitation.email,
            details={"role": membership.role},
        )
    return membership


def _locked_memberships(workspace: Workspace) -> dict[int, Membership]:
    """Every membership of the workspace, locked in primary-key order (owner counts stay exact)."""
    rows = Membership.objects.select_for_update().filter(workspace=workspace).select_related("user").order_by("pk")
    return {m.pk: m for m in rows}


@transaction.atomic
def membership_role_change(*, workspace: Workspace, actor: User, membership_id: int, role: str) -> Membership:
    members = _locked_memberships(workspace)
    target = members.get(membership_id)
    if target is None:
        raise Http404("No such member in this workspace.")
    actor_membership = _actor_membership(workspace=workspace, actor=actor)
    _check_may_grant(actor_membership, role)
    if target.role == Role.OWNER and actor_membership.role != Role.OWNER:
        raise PermissionDenied("Only an owner can change the role of an owner.")
    if target.role == role:
        return target
    owners = [m for m in members.values() if m.role == Role.OWNER]
    if target.role == Role.OWNER and len(owners) == 1:
        raise WorkspaceRuleError(
            f"{target.user.email} is the only owner. Make someone else an owner first: a workspace always has one."
        )
    before = target.role
    target.role = role
    target.save(update_fields=["role"])
    audit_log_record(
        workspace=workspace,
        actor=actor,
        action="member.role_changed",
        target=target.user.email,
        details={"before": before, "after": role},
    )
    return target


@transaction.atomic
def membership_remove(*, workspace: Workspace, actor: User, membership_id: int) -> None:
    members = _locked_memberships(workspace)
    target = members.get(membership_id)
    if target is None:
        raise Http404("No such member in this workspace.")
    actor_membership = _actor_membership(workspace=workspace, actor=actor)
    if target.role == Role.OWNER and actor_membership.role != Role.OWNER:
        raise PermissionDenied("Only an owner can remove an owner.")
    owners = [m for m in members.values() if m.role == Role.OWNER]
    if target.role == Role.OWNER and len(owners) == 1:
        raise WorkspaceRuleError(
            f"{target.user.email} is the only owner and cannot be removed. Make someone else an owner first."
        )
    email = target.user.email
    target.delete()
    audit_log_record(
        workspace=workspace, actor=actor, action="member.removed", target=email, details={"role": target.role}
    )
