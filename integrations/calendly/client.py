"""The only module that talks to Calendly's API (there is no official Python SDK: plain HTTPS with
httpx, always with a timeout)."""

import httpx
from django.conf import settings

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
