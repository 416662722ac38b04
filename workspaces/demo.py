"""The demo workspace behind `manage.py demo` (and `make run`): an owner who can log in at once.

Its sample business is loaded by clarm.demo (through the real pipeline); the workspace is marked
`is_demo`, which lets its owner reset that data from Settings."""

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from workspaces.accounts import user_ensure_verified
from workspaces.models import ApiKeyKind, Membership, Role, Workspace
from workspaces.selectors import write_key_current
from workspaces.services import api_key_create, workspace_create

DEMO_EMAIL = "demo@clarm.localhost"
DEMO_PASSWORD = "clarm-demo"
DEMO_WORKSPACE_NAME = "Demo Movers"
DEMO_WORKSPACE_SLUG = "demo-movers"


@transaction.atomic
def demo_owner_ensure() -> User:
    user, _ = user_ensure_verified(email=DEMO_EMAIL, password=DEMO_PASSWORD)
    return user


@transaction.atomic
def demo_workspace_ensure() -> tuple[Workspace, str]:
    """Create (or reuse) the demo owner and the "Demo Movers" workspace; returns it and its write key.

    Idempotent: running it again changes nothing but makes sure the owner, membership and key exist.
    """
    owner = demo_owner_ensure()
    workspace = Workspace.objects.filter(slug=DEMO_WORKSPACE_SLUG).first()
    if workspace is None:
        workspace, write_key, _ = workspace_create(
            name=DEMO_WORKSPACE_NAME,
            owner=owner,
            timezone_name="America/Los_Angeles",
            region=settings.CLARM_REGION,
            default_country="US",
        )
        Workspace.objects.filter(pk=workspace.pk).update(is_demo=True)
        workspace.is_demo = True
        return workspace, write_key
    Membership.objects.get_or_create(workspace=workspace, user=owner, defaults={"role": Role.OWNER})
    if not workspace.is_demo:  # made before workspaces were marked
        Workspace.objects.filter(pk=workspace.pk).update(is_demo=True)
        workspace.is_demo = True
    key = write_key_current(workspace=workspace)
    if key is None:
        _, plain = api_key_create(workspace=workspace, kind=ApiKeyKind.WRITE, actor=owner)
        return workspace, plain
    return workspace, key.lookup
