"""The only module that talks to ipinfo (https://ipinfo.io/developers): `GET /{ip}` with the token as
a bearer header; the `company` object ({name, domain, type}) on plans that have it, else `asn`
({asn, name, domain, route, type}). No SDK: plain HTTPS (base.fetch_json). Base URL:
CLARM_IPINFO_API_URL."""

from typing import Any

from django.conf import settings

from enrichment.models import NetworkClass
from enrichment.providers.base import NetworkLookup, company_clean, fetch_json

_TYPES = {
    "business": NetworkClass.BUSINESS,
    "isp": NetworkClass.ISP,
    "hosting": NetworkClass.HOSTING,
    "education": NetworkClass.EDUCATION,
}


def company_lookup(*, address: str, api_key: str, **_: Any) -> NetworkLookup:
    data = fetch_json(
        "ipinfo",
        "GET",
        f"{settings.CLARM_IPINFO_API_URL.rstrip('/')}/{address}",
        headers={"Authorization": f"Bearer {api_key}"},
    )
    if not isinstance(data, dict) or data.get("bogon"):
        return NetworkLookup()
    if data.get("carrier"):
        return NetworkLookup(network_class=NetworkClass.MOBILE)
    privacy = data.get("privacy")
    privacy = privacy if isinstance(privacy, dict) else {}
    if any(privacy.get(k) for k in ("vpn", "proxy", "tor", "relay", "hosting")):
        return NetworkLookup(network_class=NetworkClass.HOSTING)
    owner = data.get("company") if isinstance(data.get("company"), dict) else data.get("asn")
    if not isinstance(owner, dict):
        return NetworkLookup()
    kind = _TYPES.get(str(owner.get("type", "")).lower(), NetworkClass.UNKNOWN)
    if kind != NetworkClass.BUSINESS:
        return NetworkLookup(network_class=kind)
    location = ", ".join(str(data[k]) for k in ("city", "region", "country") if data.get(k))
    company = company_clean(
        {"name": owner.get("name"), "domain": owner.get("domain"), "location": location, "country": data.get("country")}
    )
    return NetworkLookup(network_class=kind, company=company)
