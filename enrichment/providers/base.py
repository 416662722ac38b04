"""The shapes every company provider answers with."""

import ipaddress
from dataclasses import dataclass, field
from typing import Any

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
