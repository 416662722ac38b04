"""The only module that talks to Snitcher's IP to Company API (https://docs.snitcher.com/ip2company):
`POST /company/find?ip=` with the key as a bearer token. 200: `{ip, fuzzy, domain, type, company:
{name, domain, website, industry, employee_range, annual_revenue, location, ...}}`; 404: no match;
202: "queued for enrichment, retry in a few seconds" (a provider error here: cached for an hour,
the offline answer stands meanwhile); 403 quota, 429 rate limit: errors. No SDK: httpx with a
timeout. Base URL: CLARM_SNITCHER_API_URL."""

from typing import Any

import httpx
from django.conf import settings

from enrichment.models import NetworkClass
from enrichment.providers.base import NetworkLookup, ProviderError, company_clean, money

TIMEOUT_SECONDS = 5
_TYPES = {
    "business": NetworkClass.BUSINESS,
    "isp": NetworkClass.ISP,
    "hosting": NetworkClass.HOSTING,
    "education": NetworkClass.EDUCATION,
    "mobile": NetworkClass.MOBILE,
}


def company_lookup(*, address: str, api_key: str, **_: Any) -> NetworkLookup:
    base = settings.CLARM_SNITCHER_API_URL.rstrip("/")
    try:
        response = httpx.post(
            f"{base}/company/find",
            params={"ip": address},
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        raise ProviderError(f"Snitcher could not be reached: {exc}"[:200]) from exc
    if response.status_code == 404:
        return NetworkLookup()
    if response.status_code == 202:
        raise ProviderError("Snitcher queued the address for enrichment (asked again after the error TTL)")
    if response.status_code != 200:
        raise ProviderError(f"Snitcher answered {response.status_code}")
    try:
        data = response.json()
    except ValueError as exc:
        raise ProviderError("Snitcher answered something that is not JSON") from exc
    if not isinstance(data, dict):
        return NetworkLookup()
    kind = _TYPES.get(str(data.get("type") or "business").lower(), NetworkClass.UNKNOWN)
    company = data.get("company")
    if kind != NetworkClass.BUSINESS or not isinstance(company, dict):
        return NetworkLookup(network_class=kind)
    return NetworkLookup(
        network_class=kind,
        company=company_clean(
            {
                "name": company.get("name"),
                "domain": company.get("domain") or data.get("domain"),
                "industry": company.get("industry"),
                "size": company.get("employee_range"),
                "revenue_range": money(company.get("annual_revenue")),
                "location": company.get("location"),
            }
        ),
    )
