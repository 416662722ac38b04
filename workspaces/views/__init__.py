"""Workspace pages. Every page under `w/<slug>/` goes through `WorkspaceMixin` (views_base)."""

from workspaces.views.audit import AuditLogView
from workspaces.views.invitations import InvitationView
from workspaces.views.keys import KeysView
from workspaces.views.members import (
    InvitationRevokeView,
    MemberInviteView,
    MemberRemoveView,
    MemberRoleView,
    MembersView,
)
from workspaces.views.onboarding import InstallView, WorkspaceCreateView, home, landing
from workspaces.views.settings import SettingsView

__all__ = [
    "AuditLogView",
    "InstallView",
    "InvitationRevokeView",
    "InvitationView",
    "KeysView",
    "MemberInviteView",
    "MemberRemoveView",
    "MemberRoleView",
    "MembersView",
    "SettingsView",
    "WorkspaceCreateView",
    "home",
    "landing",
]
