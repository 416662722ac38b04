from typing import Any

from django import template

from workspaces.models import Workspace
from workspaces.snippet import snippet_for_workspace

register = template.Library()


@register.simple_tag
def install_snippet(workspace: object) -> str:
    """The snippet code (as text to show and copy) with the workspace's current write key."""
    if not isinstance(workspace, Workspace):  # no workspace in the page's context
        return ""
    return snippet_for_workspace(workspace=workspace)


@register.filter
def audit_value(value: Any) -> str:
    """A settings value as a person reads it: lists joined, empty shown as "(empty)"."""
    if value in (None, "", [], {}):
        return "(empty)"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)
