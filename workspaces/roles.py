"""Roles and what each may do (see docs/workspaces.md for the matrix)."""

from workspaces.models import Membership, Role

ROLE_RANK = {Role.MEMBER: 0, Role.ADMIN: 1, Role.OWNER: 2}


def role_at_least(membership: Membership, role: str) -> bool:
    return ROLE_RANK[Role(membership.role)] >= ROLE_RANK[Role(role)]


def roles_grantable(membership: Membership) -> list[tuple[str, str]]:
    """The roles this member may give to others (only an owner may make an owner)."""
    if membership.role == Role.OWNER:
        return list(Role.choices)
    if membership.role == Role.ADMIN:
        return [(v, label) for v, label in Role.choices if v != Role.OWNER]
    return []
