import datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format

from identity import selectors
from identity.timeline import event_text
from workspaces.models import Workspace

register = template.Library()


@register.simple_tag
def site_event_latest(workspace: Workspace) -> dict[str, object] | None:
    """The install check: the newest event from the workspace's site (its title in words, when it
    was received, from which page), or None."""
    event = selectors.site_event_latest(workspace=workspace)
    if event is None:
        return None
    text = event_text(event=event.event, source=event.source, properties=event.properties, context=event.context)
    context = event.context if isinstance(event.context, dict) else {}
    return {"title": text.title, "received_at": event.received_at, "url": context.get("url") or ""}


@register.filter
def thousands(value: object) -> str:
    """12345 → "12,345"."""
    try:
        return f"{int(str(value)):,}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def ago(value: object) -> str:
    """How long ago, in words: "just now", "5 min ago", "3 h ago", "4 days ago"; older
    than a month, the date (the caller shows it in the workspace's time zone via `title`)."""
    if not isinstance(value, datetime.datetime):
        return ""
    seconds = (timezone.now() - value).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86400)
    if days < 31:
        return f"{days} day{'s' if days != 1 else ''} ago"
    return date_format(timezone.localtime(value), "j M Y")


@register.filter
def until(value: object) -> str:
    """How far ahead, in words: "in 20 min", "in 3 h", "in 4 days"."""
    if not isinstance(value, datetime.datetime):
        return ""
    seconds = (value - timezone.now()).total_seconds()
    if seconds < 60:
        return "now"
    if seconds < 3600:
        return f"in {int(seconds // 60)} min"
    if seconds < 86400:
        return f"in {int(seconds // 3600)} h"
    days = int(seconds // 86400)
    return "in 1 day" if days == 1 else f"in {days} days"
