"""The only module that talks to People Data Labs (https://docs.peopledatalabs.com): the IP
Enrichment API (`GET /v5/ip/enrich?ip=`, a company-reveal API) and the Person Enrichment API
(`GET /v5/person/enrich?email=`: person fields from an email the person gave, never from an IP).
The key goes in the `X-Api-Key` header. No SDK call is needed for two GETs (base.fetch_json).
Base URL: CLARM_PDL_API_URL."""

from typing import Any

from django.conf import settings

from enrichment.models import NetworkClass
from enrichment.providers.base import NetworkLookup, company_clean, fetch_json

# PDL's confidence levels; a weaker match is not shown as the visitor's company.
MIN_CONFIDENCE = {"very high", "high", "moderate"}


def _get(path: str, *, api_key: str, params: dict[str, str]) -> dict[str, Any] | None:
    body = fetch_json(
        "People Data Labs",
        "GET",
        f"{settings.CLARM_PDL_API_URL.rstrip('/')}{path}",
        params=params,
        headers={"X-Api-Key": api_key},
    )
    data = body.get("data") if isinstance(body, dict) else None  # a 404 (no match) is not charged
    return data if isinstance(data, dict) else None


def company_lookup(*, address: str, api_key: str, **_: Any) -> NetworkLookup:
    data = _get("/v5/ip/enrich", api_key=api_key, params={"ip": address})
    if data is None:
        return NetworkLookup()
    metadata = (data.get("ip") or {}).get("metadata") or {}
    if metadata.get("mobile"):
        return NetworkLookup(network_class=NetworkClass.MOBILE)
    if any(metadata.get(k) for k in ("hosting", "proxy", "tor", "vpn", "relay")):
        return NetworkLookup(network_class=NetworkClass.HOSTING)
    company = data.get("company")
    if not isinstance(company, dict) or str(company.get("confidence", "")).lower() not in MIN_CONFIDENCE:
        return NetworkLookup(network_class=NetworkClass.UNKNOWN)
    location = company.get("location")
    location = location if isinstance(location, dict) else {}
    return NetworkLookup(
        network_class=NetworkClass.BUSINESS,
        company=company_clean(
            {
                "name": company.get("display_name") or company.get("name"),
                "domain": company.get("website"),
                "industry": company.get("industry"),
                "size": company.get("size"),
                "revenue_range": company.get("inferred_revenue"),
                "location": location.get("name"),
                "country": location.get("country"),
            }
        ),
    )


def person_lookup(*, email: str, api_key: str) -> dict[str, Any] | None:
    """Name, job title and LinkedIn of the person with this email, or None when PDL has no match."""
    data = _get("/v5/person/enrich", api_key=api_key, params={"email": email})
    if data is None:
        return None
    linkedin = data.get("linkedin_url")
    if isinstance(linkedin, str) and linkedin and "://" not in linkedin:
        linkedin = f"https://{linkedin}"  # PDL gives "linkedin.com/in/…"
    if not (isinstance(linkedin, str) and linkedin.startswith(("https://", "http://"))):
        linkedin = None  # only a web address is ever shown as a link
    out = {"name": data.get("full_name"), "title": data.get("job_title"), "linkedin": linkedin}
    return {k: str(v)[:300] for k, v in out.items() if isinstance(v, str) and v}
