"""Writes to tenants. Each is atomic and leaves an audit row."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from workspaces.keys import key_generate, key_lookup_value
from workspaces.models import ApiKey, ApiKeyKind, AuditLog, Membership, Role, Workspace


def audit_log_record(
    *,
    workspace: Workspace,
    actor: AbstractBaseUser | None,
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


@transaction.atomic
def api_key_create(*, workspace: Workspace, kind: str, actor: AbstractBaseUser | None) -> tuple[ApiKey, str]:
    """Create a key and return it with its plain value (shown once for a secret key)."""
    plain = key_generate(kind)
    key = ApiKey.objects.create(
        workspace=workspace,
        kind=kind,
        prefix=plain[:10],
        lookup=key_lookup_value(kind, plain),
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    audit_log_record(workspace=workspace, actor=actor, action="api_key.created", target=key.prefix, details={"kind": kind})
    return key, plain


@transaction.atomic
def api_key_rotate(*, workspace: Workspace, kind: str, actor: AbstractBaseUser | None) -> tuple[ApiKey, str]:
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
        workspace=workspace, actor=actor, action="api_key.rotated", target=key.prefix, details={"kind": kind, "revoked": revoked}
    )
    return key, plain


@transaction.atomic
def workspace_create(
    *,
    name: str,
    owner: AbstractBaseUser,
    timezone_name: str = "UTC",
    region: str | None = None,
    default_country: str = "US",
) -> tuple[Workspace, str, str]:
    """Create a workspace with its owner, a write key and a secret key.

    Returns the workspace and the plain write and secret keys.
    """
    from django.conf import settings

    workspace = Workspace.objects.create(
        name=name,
        slug=_unique_slug(name),
        timezone=timezone_name,
        region=region or settings.CLARM_REGION,
        default_country=default_country,
        summary_recipients=[owner.email] if getattr(owner, "email", "") else [],
    )
    Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    audit_log_record(workspace=workspace, actor=owner, action="workspace.created", target=workspace.slug)
    _, write_plain = api_key_create(workspace=workspace, kind=ApiKeyKind.WRITE, actor=owner)
    _, secret_plain = api_key_create(workspace=workspace, kind=ApiKeyKind.SECRET, actor=owner)
    return workspace, write_plain, secret_plain
