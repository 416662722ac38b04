import re

import pytest
from allauth.account.models import EmailAddress

from tests.factories import UserFactory
from workspaces.keys import key_authenticate
from workspaces.models import ApiKey, Membership, Role

PASSWORD = "correct horse battery staple"


def verified_user(email: str | None = None):
    """A user who can log in: password PASSWORD and a verified primary email."""
    user = UserFactory(**({"email": email} if email else {}))
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    return user


def join(workspace, role: str, email: str | None = None):
    user = verified_user(email)
    Membership.objects.create(workspace=workspace, user=user, role=role)
    return user


@pytest.fixture
def owner_client(client, tenant):
    EmailAddress.objects.create(user=tenant.owner, email=tenant.owner.email, primary=True, verified=True)
    client.force_login(tenant.owner)
    return client


@pytest.fixture
def admin_user(tenant):
    return join(tenant.workspace, Role.ADMIN)


@pytest.fixture
def member_user(tenant):
    return join(tenant.workspace, Role.MEMBER)


def active_key(kind: str, plain: str) -> ApiKey:
    """The active key with that value; fails the test if it does not authenticate."""
    key = key_authenticate(kind=kind, plain=plain)
    assert key is not None, f"{plain[:10]}… does not authenticate"
    return key


def found(pattern: str, text: object, group: int = 0) -> str:
    match = re.search(pattern, str(text))
    assert match, f"{pattern!r} not in:\n{text}"
    return match.group(group)
