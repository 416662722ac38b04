"""The person's booking page (public, from the signed link in a Booking assistant confirmation): see the
booking, move it to another open time or cancel it. GET only shows; a change is a POST with Django's
CSRF token. A bad or expired link, another region's workspace, or a change that cannot be made is a
page saying so (400, 410, 421, 409), never a 500."""

import datetime

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from agents.booking_links import BookingLinkExpired, BookingLinkInvalid, booking_token_read
from agents.bookings import (
    BookingChangeError,
    booking_cancel,
    booking_current,
    booking_move,
    booking_state,
    move_slots,
)
from agents.dialogs import when_label
from agents.models import Booking
from agents.summary.periods import workspace_zone
from workspaces.models import Workspace


def _problem(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    return render(request, "privacy/problem.html", {"title": title, "message": message}, status=status)


def _page(request: HttpRequest, token: str, booking: Booking, *, error: str = "", status: int = 200) -> HttpResponse:
    workspace = booking.workspace
    zone = workspace_zone(workspace.timezone)
    now = timezone.now()
    state = booking_state(booking, now=now)
    slots = move_slots(workspace=workspace, now=now) if state == "open" else []
    context = {
        "workspace": workspace,
        "token": token,
        "booking": booking,
        "state": state,
        "when": when_label(booking.start_at, zone),
        "minutes": int((booking.end_at - booking.start_at).total_seconds() // 60),
        "zone": workspace.timezone,
        "slots": [(slot.start.isoformat(), when_label(slot.start, zone)) for slot in slots],
        "error": error,
    }
    return render(request, "agents/booking_manage.html", context, status=status)


@require_http_methods(["GET", "POST"])
def booking_manage(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = booking_token_read(token)
    except BookingLinkExpired:
        return _problem(
            request,
            410,
            "This link has expired",
            "Booking links work for 45 days. Reply to the business's last message to change your booking.",
        )
    except BookingLinkInvalid:
        return _problem(
            request,
            400,
            "This link is not valid",
            "The link is incomplete or was changed. Use the link exactly as you received it.",
        )
    workspace = Workspace.objects.filter(pk=link.workspace_id).first()
    if workspace is not None and workspace.region != settings.CLARM_REGION:
        return _problem(
            request,
            421,
            "Served in another region",
            f"This business keeps its data in the “{workspace.region}” region; this server serves the "
            f"“{settings.CLARM_REGION}” region. Nothing was changed here.",
        )
    booking = booking_current(workspace=workspace, booking_id=link.booking_id) if workspace else None
    if booking is None:
        return _problem(request, 404, "Nothing to show", "We could not find this booking. It may have been removed.")
    if request.method == "GET":
        return _page(request, token, booking)
    action = request.POST.get("action", "")
    try:
        if action == "cancel":
            booking_cancel(booking=booking, now=timezone.now())
            messages.success(request, "Your booking is cancelled.")
        elif action == "move":
            start = _start(request.POST.get("start", ""))
            if start is None:
                return _page(request, token, booking, error="Choose one of the open times below.", status=400)
            moved = booking_move(booking=booking, start=start, now=timezone.now())
            zone = workspace_zone(booking.workspace.timezone)
            messages.success(request, f"Your booking is moved to {when_label(moved.start_at, zone)}.")
        else:
            return _page(request, token, booking, error="Choose to move or to cancel the booking.", status=400)
    except BookingChangeError as exc:
        return _page(request, token, booking, error=str(exc), status=exc.status)
    return redirect("agents:booking_manage", token=token)


def _start(value: str) -> datetime.datetime | None:
    try:
        start = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return start if start.tzinfo is not None else None
