"""Where a request comes from, without keeping the address: a daily-salted keyed hash, plus the
country and network (ASN) read from geoip2fast's bundled data, and the address's /24 (IPv4) or /48
(IPv6) prefix for company enrichment. The IP itself is never stored.

Why the prefix and not a lookup at the edge: enrichment is a processor after stitching (never on the
ingest request), and the BYOK providers answer per address. A /24 or /48 is a network (shared by
every host behind it), not a person: it is what the shared enrichment cache is keyed by, and what a
provider is asked about (as its first address). See docs/enrichment.md."""

import datetime
import hashlib
import hmac
import ipaddress
import secrets
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from tracking.models import DailySalt

# EU member states, the rest of the EEA, and the UK (ISO 3166-1 alpha-2).
# fmt: off
CONSENT_COUNTRIES = frozenset((
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO", "GB",
))
# fmt: on


_salts: dict[datetime.date, str] = {}
_salts_lock = threading.Lock()


def ip_salt_today() -> str:
    """Today's salt (UTC day), created on first use and shared by every process through the
    database; cached in this process for the day."""
    today = timezone.now().date()
    salt = _salts.get(today)
    if salt is not None:
        return salt
    with _salts_lock:
        row = DailySalt.objects.filter(date=today).first()
        if row is None:
            try:
                with transaction.atomic():
                    row = DailySalt.objects.create(date=today, salt=secrets.token_hex(32))
            except IntegrityError:  # another process made it first
                row = DailySalt.objects.get(date=today)
        _salts.clear()  # yesterday's is not needed in this process any more
        _salts[today] = row.salt
        return row.salt


def ip_hash(ip: str, *, workspace_id: int) -> str:
    """Keyed hash of the address for today, different per workspace (no linking across tenants)."""
    return hmac.new(ip_salt_today().encode(), f"{workspace_id}:{ip}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Geo:
    country: str | None = None
    asn: str | None = None
    network: str | None = None
    prefix: str | None = None

    def as_context(self) -> dict[str, Any]:
        pairs = (("country", self.country), ("asn", self.asn), ("network", self.network), ("prefix", self.prefix))
        return {k: v for k, v in pairs if v}


# The widest block a single site usually gets: enrichment never sees a narrower one (no host bits).
PREFIX_V4 = 24
PREFIX_V6 = 48


def ip_prefix(ip: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) network an address is in, e.g. "203.0.113.0/24"."""
    address = ipaddress.ip_address(ip)
    bits = PREFIX_V4 if address.version == 4 else PREFIX_V6
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


_geoip: Any = None
_geoip_lock = threading.Lock()


def _geoip_db() -> Any:
    """geoip2fast's country + ASN data for IPv4 and IPv6, loaded once per process (~0.2 s)."""
    global _geoip
    if _geoip is None:
        with _geoip_lock:
            if _geoip is None:
                from geoip2fast import GeoIP2Fast

                _geoip = GeoIP2Fast(geoip2fast_data_file="geoip2fast-asn-ipv6.dat.gz")
    return _geoip


@lru_cache(maxsize=4096)
def geo_lookup(ip: str | None) -> Geo:
    """Country code, ASN name, routed network and /24-/48 prefix of a public address; empty for
    private or unknown."""
    if not ip:
        return Geo()
    result = _geoip_db().lookup(ip)
    if result.is_private:
        return Geo()
    code = result.country_code if len(result.country_code or "") == 2 and result.country_code.isalpha() else None
    return Geo(country=code, asn=result.asn_name or None, network=result.asn_cidr or None, prefix=ip_prefix(ip))


def consent_required(*, mode: str, country: str | None) -> bool:
    if mode == "always":
        return True
    if mode == "never":
        return False
    # eu_only: ask in the EU/EEA/UK, and wherever we cannot tell.
    return country is None or country in CONSENT_COUNTRIES
