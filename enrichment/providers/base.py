"""The shapes every company provider answers with."""

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import httpx

from enrichment.models import NetworkClass

COMPANY_FIELDS = ("name", "domain", "industry", "size", "revenue_range", "location", "country")


class ProviderError(Exception):
    """The provider could not answer (network, 429, 5xx, bad key): not cached as a negative answer
    for long, and never stored on the customer."""


@dataclass(frozen=True)
class NetworkLookup:
    network_class: str = NetworkClass.UNKNOWN
    # name, domain, industry, size, revenue_range, location, country (strings or None); empty: none.
    company: dict[str, Any] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return bool(self.company.get("name")) and self.network_class in (NetworkClass.BUSINESS, NetworkClass.EDUCATION)


def company_clean(values: dict[str, Any]) -> dict[str, Any]:
    """Only the company fields, as short strings, without empty values."""
    out: dict[str, Any] = {}
    for key in COMPANY_FIELDS:
        value = values.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            out[key] = str(value).strip()[:200]
    return out


def prefix_address(prefix: str) -> str:
    """The address a provider is asked about for a prefix: its first host (x.y.z.1, or ::1 in the /48)."""
    network = ipaddress.ip_network(prefix, strict=False)
    return str(network.network_address + 1)


def money(amount: object) -> str | None:
    """A yearly revenue figure as shown: 2000000 → "$2,000,000" (read back by the enterprise score)."""
    if isinstance(amount, int | float) and not isinstance(amount, bool) and amount > 0:
        return f"${round(amount):,}"
    return None


TIMEOUT_SECONDS = 5


def fetch_json(
    provider: str,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    params: dict[str, str] | None = None,
    errors: dict[int, str] | None = None,
) -> Any:
    """One request to a provider (httpx, TIMEOUT_SECONDS), its JSON body; None for a 404 (no
    match). Unreachable, any other status (or one of `errors`: status → why) or a body that is not
    JSON raise ProviderError naming the provider."""
    try:
        response = httpx.request(
            method, url, params=params, headers={**headers, "Accept": "application/json"}, timeout=TIMEOUT_SECONDS
        )
    except httpx.HTTPError as exc:
        raise ProviderError(f"{provider} could not be reached: {exc}"[:200]) from exc
    if response.status_code in (errors or {}):
        raise ProviderError(f"{provider} answered {response.status_code}: {(errors or {})[response.status_code]}")
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise ProviderError(f"{provider} answered {response.status_code}")
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderError(f"{provider} answered something that is not JSON") from exc
