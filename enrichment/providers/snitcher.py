"""The only module that talks to Snitcher's IP to Company API (https://docs.snitcher.com/ip2company):
`POST /company/find?ip=` with the key as a bearer token. 200: `{ip, fuzzy, domain, type, company:
{name, domain, website, industry, employee_range, annual_revenue, location, ...}}`; 404: no match;
202: "queued for enrichment, retry in a few seconds" (a provider error here: cached for an hour,
the offline answer stands meanwhile); 403 quota, 429 rate limit: errors. No SDK: plain HTTPS
(base.fetch_json). Base URL: CLARM_SNITCHER_API_URL."""

from typing import Any

from django.conf import settings

from enrichment.models import NetworkClass
from enrichment.providers.base import NetworkLookup, company_clean, fetch_json, money

_TYPES = {
    "business": NetworkClass.BUSINESS,
    "isp": NetworkClass.ISP,
    "hosting": NetworkClass.HOSTING,
    "education": NetworkClass.EDUCATION,
    "mobile": NetworkClass.MOBILE,
}


def company_lookup(*, address: str, api_key: str, **_: Any) -> NetworkLookup:
    data = fetch_json(
        "Snitcher",
        "POST",
        f"{settings.CLARM_SNITCHER_API_URL.rstrip('/')}/company/find",
        params={"ip": address},
        headers={"Authorization": f"Bearer {api_key}"},
        errors={202: "queued for enrichment, asked again after the error TTL"},
    )
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
