"""Company providers behind one interface: `lookup(prefix=, address=, asn=, network=)` → NetworkLookup.

`offline` ships with the app (the ASN organisation from geoip2fast's data); `ipinfo`, `pdl`,
`snitcher` and `dealfront` are BYOK clients (the workspace's key, or the deployment's for the shared
cache). Each client module is the only one that talks to its provider, with a timeout, at the base
URL `CLARM_<PROVIDER>_API_URL`."""

from collections.abc import Callable

from enrichment.models import CompanyProvider
from enrichment.providers import dealfront, ipinfo, pdl, snitcher
from enrichment.providers.base import NetworkLookup, ProviderError

ClientLookup = Callable[..., NetworkLookup]

CLIENTS: dict[str, ClientLookup] = {
    CompanyProvider.IPINFO: ipinfo.company_lookup,
    CompanyProvider.PDL: pdl.company_lookup,
    CompanyProvider.SNITCHER: snitcher.company_lookup,
    CompanyProvider.DEALFRONT: dealfront.company_lookup,
}

__all__ = ["CLIENTS", "NetworkLookup", "ProviderError"]
