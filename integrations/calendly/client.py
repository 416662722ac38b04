"""The only module that talks to Calendly's API (there is no official Python SDK: plain HTTPS with
httpx, always with a timeout)."""

import datetime
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.utils.dateparse import parse_datetime

TIMEOUT_SECONDS = 10


def account_check(*, api_token: str) -> tuple[bool, str]:
    if not api_token:
        return True, "Signing key stored (add a personal access token to test API access)."
    base = settings.CLARM_CALENDLY_API_URL.rstrip("/")
    try:
        response = httpx.get(
            f"{base.rstrip('/')}/users/me", headers={"Authorization": f"Bearer {api_token}"}, timeout=TIMEOUT_SECONDS
        )
    except httpx.HTTPError as exc:
        return False, f"Calendly could not be reached: {exc}"[:300]
    if response.status_code != 200:
        return False, f"Calendly refused the token ({response.status_code})."
    name = (response.json().get("resource") or {}).get("name", "")
    return True, f"Calendly answered: signed in as {name or 'your user'}."


class CalendlyError(Exception):
    """Calendly refused or could not be reached; the message says which. `status` is Calendly's HTTP
    answer (0 when it could not be reached)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def _headers(api_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token}", "Content-Type": "application/json"}


@dataclass(frozen=True)
class AvailableTime:
    start_time: datetime.datetime
    scheduling_url: str


def available_times(
    *, api_token: str, event_type: str, start: datetime.datetime, end: datetime.datetime
) -> list[AvailableTime]:
    """`GET /event_type_available_times` (start and end in the future, at most 31 days apart): the
    event type's open times, earliest first."""
    base = settings.CLARM_CALENDLY_API_URL.rstrip("/")
    params = {
        "event_type": event_type,
        "start_time": start.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "end_time": end.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    try:
        response = httpx.get(
            f"{base}/event_type_available_times", params=params, headers=_headers(api_token), timeout=TIMEOUT_SECONDS
        )
    except httpx.HTTPError as exc:
        raise CalendlyError(f"Calendly could not be reached: {exc}"[:300]) from exc
    if response.status_code != 200:
        raise CalendlyError(
            f"Calendly refused the availability request ({response.status_code}).", status=response.status_code
        )
    times = []
    for item in (response.json() or {}).get("collection") or []:
        start_time = parse_datetime(str(item.get("start_time") or ""))
        if item.get("status", "available") == "available" and start_time is not None and start_time.tzinfo:
            times.append(AvailableTime(start_time=start_time, scheduling_url=str(item.get("scheduling_url") or "")))
    return sorted(times, key=lambda t: t.start_time)


def invitee_create(
    *,
    api_token: str,
    event_type: str,
    start_time: datetime.datetime,
    email: str,
    name: str,
    timezone_name: str,
    phone: str = "",
) -> str:
    """`POST /invitees` (the Scheduling API; a paid Calendly plan): books the time for the person, as
    if they had used the booking page (Calendly sends its own confirmation and the `invitee.created`
    webhook). Returns the new invitee's URI."""
    base = settings.CLARM_CALENDLY_API_URL.rstrip("/")
    invitee = {"email": email, "name": name or email, "timezone": timezone_name}
    if phone:
        invitee["text_reminder_number"] = phone
    body = {
        "event_type": event_type,
        "start_time": start_time.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "invitee": invitee,
    }
    try:
        response = httpx.post(f"{base}/invitees", json=body, headers=_headers(api_token), timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        raise CalendlyError(f"Calendly could not be reached: {exc}"[:300]) from exc
    if response.status_code not in (200, 201):
        try:
            message = str((response.json() or {}).get("message") or "")
        except ValueError:
            message = ""
        raise CalendlyError(
            f"Calendly refused the booking ({response.status_code}) {message}".strip()[:300],
            status=response.status_code,
        )
    uri = str(((response.json() or {}).get("resource") or {}).get("uri") or "")
    if not uri:
        raise CalendlyError("Calendly answered without the booking's URI.")
    return uri
