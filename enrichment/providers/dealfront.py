"""The only module that talks to Dealfront's (Leadfeeder's) IP-Enrich API
(https://docs.leadfeeder.com/connectors/ip-enrich-api/): `GET /companies?ip=` with the key in the
`X-API-KEY` header. 200: `{id, ip_address, confidence_score, company: {name, domain, revenue:
{year, amount}, employees_range: {min, max}, industries: {name, sic, naics}, ...}, location:
{city, region, country_code}}`; 404: no match. A "low" confidence is not shown as the visitor's
company. No SDK: plain HTTPS (base.fetch_json). Base URL: CLARM_DEALFRONT_API_URL."""

from typing import Any

from django.conf import settings

from enrichment.models import NetworkClass
from enrichment.providers.base import NetworkLookup, company_clean, fetch_json, money

WEAK_CONFIDENCE = frozenset(("low", "very low"))


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _employees(band: object) -> str | None:
    if not isinstance(band, dict):
        return None
    low, high = band.get("min"), band.get("max")
    if isinstance(low, int) and isinstance(high, int):
        return f"{low}-{high}"
    if isinstance(low, int):
        return f"{low}+"
    return None


def company_lookup(*, address: str, api_key: str, **_: Any) -> NetworkLookup:
    data = fetch_json(
        "Dealfront",
        "GET",
        f"{settings.CLARM_DEALFRONT_API_URL.rstrip('/')}/companies",
        params={"ip": address},
        headers={"X-API-KEY": api_key},
    )
    if not isinstance(data, dict) or not isinstance(company := data.get("company"), dict):
        return NetworkLookup()
    if str(data.get("confidence_score", "")).lower() in WEAK_CONFIDENCE:
        return NetworkLookup()
    location = _object(data.get("location"))
    revenue = _object(company.get("revenue"))
    industries = _object(company.get("industries"))
    return NetworkLookup(
        network_class=NetworkClass.BUSINESS,
        company=company_clean(
            {
                "name": company.get("name"),
                "domain": company.get("domain"),
                "industry": industries.get("name"),
                "size": _employees(company.get("employees_range")),
                "revenue_range": money(revenue.get("amount")),
                "location": ", ".join(str(location[k]) for k in ("city", "region", "country_code") if location.get(k)),
                "country": location.get("country_code"),
            }
        ),
    )
