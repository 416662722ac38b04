"""The code a business pastes into its site: the `ClarmTrack` queue stub, then the async loader."""

from django.conf import settings
from django.utils.html import escape

from workspaces.models import Workspace
from workspaces.selectors import write_key_current


def snippet_code(*, write_key: str, base_url: str | None = None) -> str:
    base = escape((base_url or settings.CLARM_PUBLIC_URL).rstrip("/"))
    key = escape(write_key)
    return (
        "<script>window.ClarmTrack=window.ClarmTrack||function(){(window.ClarmTrack.q=window.ClarmTrack.q||[])"
        ".push(arguments)};</script>"
        f'<script async src="{base}/static/clarm.js" data-key="{key}" data-host="{base}"></script>'
    )


def snippet_for_workspace(*, workspace: Workspace) -> str:
    """The snippet with the workspace's current write key ("" if it has none)."""
    key = write_key_current(workspace=workspace)
    return snippet_code(write_key=key.lookup) if key is not None else ""
