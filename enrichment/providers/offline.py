"""The offline default: the ASN organisation of the network (geoip2fast's bundled data, read at the
edge into the event's context as `asn` and `network`), classified ISP / mobile / hosting / education /
business by name and size. Only a business network names a company, and only by its organisation:
a residential, mobile or hosting network never gives a company."""

import ipaddress
import re

from enrichment.models import NetworkClass
from enrichment.providers.base import NetworkLookup

# Words in an ASN organisation name that mark each kind of network (matched as whole words or
# name fragments, case-insensitive). Checked in this order: a mobile carrier's name often says
# "telecom" too, and a hosting company may say "internet".
_MOBILE = (
    r"mobile|mobil|wireless|cellular|lte|\b4g\b|\b5g\b|t-mobile|vodafone|o2\b|\bee\b|verizon wireless|mobility|"
    r"telcel"
)
_HOSTING = (
    r"amazon|aws|google|microsoft|azure|digitalocean|digital ocean|ovh|hetzner|linode|akamai|cloudflare|fastly|"
    r"oracle|alibaba|tencent|contabo|vultr|choopa|leaseweb|scaleway|hosting|host|datacenter|data center|"
    r"colocation|\bcolo\b|server|cloud|vps|\bcdn\b|ionos|godaddy|rackspace|m247|\bvpn\b|proxy|tor\b|"
    r"nordvpn|expressvpn|private internet access|mullvad|zscaler|netskope"
)
_ISP = (
    r"telecom|telekom|telecommunication|telefonica|telephone|comcast|charter|spectrum|cox\b|cable|broadband|"
    r"\bdsl\b|fiber|fibre|\bisp\b|internet service|communications|\bnetwork(s)?\b|\bnet\b|online|orange|"
    r"\bbt\b|virgin|sky\b|\bkpn\b|swisscom|proximus|bell\b|rogers|telus|shaw|at&t|\batt\b|centurylink|lumen|"
    r"frontier|windstream|\bchina\b|unicom|chinanet|\bjio\b|airtel|\bntt\b|kddi|softbank|\bkt\b|telstra|optus|"
    r"telenor|telia|tele2|\bfree\b|\bsfr\b|bouygues|iliad|liberty global|ziggo|\bunitymedia\b|vodafone|fastweb|"
    r"\btim\b|wind|movistar|claro|vivo|\bisp\b|provider|residential"
)
_EDUCATION = r"universit|college|school|academ|education|research|rechenzentrum|\bedu\b|\bdfn\b|janet|geant|renater"
# An organisation whose routed block is larger than this serves the public, not one site.
MAX_BUSINESS_V4_BITS = 16  # a /16 or narrower
MAX_BUSINESS_V6_BITS = 29


def network_classify(*, asn: str | None, network: str | None) -> str:
    name = (asn or "").lower()
    if not name:
        return NetworkClass.UNKNOWN
    for pattern, kind in (
        (_MOBILE, NetworkClass.MOBILE),
        (_HOSTING, NetworkClass.HOSTING),
        (_EDUCATION, NetworkClass.EDUCATION),
        (_ISP, NetworkClass.ISP),
    ):
        if re.search(pattern, name):
            return kind
    if network:
        try:
            block = ipaddress.ip_network(network, strict=False)
        except ValueError:
            return NetworkClass.UNKNOWN
        widest = MAX_BUSINESS_V4_BITS if block.version == 4 else MAX_BUSINESS_V6_BITS
        if block.prefixlen < widest:
            return NetworkClass.ISP  # a block this large is an access network whatever its name says
    return NetworkClass.BUSINESS


_LEGAL_FORMS = frozenset(("AG", "SA", "NV", "BV", "AB", "AS", "LLC", "INC", "LTD", "PLC", "SE", "SPA", "SRL"))
_SUFFIX = re.compile(r"(-AS\d*|-AS-.*|AS\d+|-\d+)$", re.IGNORECASE)


def organisation_name(asn: str) -> str:
    """ "SIEMENS-AG" → "Siemens AG"; "Plus.line AG" stays as it is."""
    text = _SUFFIX.sub("", asn.strip()).strip(" -_")
    if text.isupper() or text.islower():
        words = re.split(r"[-_ ]+", text)
        text = " ".join(w.upper() if w.upper() in _LEGAL_FORMS else w.capitalize() for w in words)
    return text or asn


def company_lookup(*, asn: str | None, network: str | None, country: str | None = None) -> NetworkLookup:
    kind = network_classify(asn=asn, network=network)
    if kind != NetworkClass.BUSINESS or not asn:
        return NetworkLookup(network_class=kind)
    company = {"name": organisation_name(asn)}
    if country:
        company["country"] = country
        company["location"] = country
    return NetworkLookup(network_class=kind, company=company)
