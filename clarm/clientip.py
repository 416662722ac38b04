"""Which address a request comes from: the one rule every part of Clarm uses (ingest hashing, geo,
ingest rate limits, login and admin rate limits)."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The connecting address, or the one our trusted proxies saw (X-Forwarded-For is read only
    when CLARM_TRUSTED_PROXY_COUNT > 0, counting that many proxies from the right, so a client
    cannot pick its own address by sending the header)."""
    proxies = settings.CLARM_TRUSTED_PROXY_COUNT
    candidate = request.META.get("REMOTE_ADDR", "")
    if proxies > 0:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
        if forwarded:
            candidate = forwarded[-proxies] if len(forwarded) >= proxies else forwarded[0]
    return ip_clean(candidate)


def ip_clean(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None
