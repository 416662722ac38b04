"""Where a visit came from: UTM parameters and ad click ids of the landing URL."""

from typing import Any
from urllib.parse import parse_qsl, urlsplit

UTM_PARAMS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
CLICK_IDS = ("gclid", "gbraid", "wbraid", "fbclid", "msclkid", "ttclid", "li_fat_id", "twclid")
# Click ids that only a paid ad carries (fbclid is also added to organic Facebook links).
PAID_CLICK_IDS = frozenset(("gclid", "gbraid", "wbraid", "msclkid", "ttclid", "li_fat_id", "twclid"))
PAID_MEDIUMS = frozenset(("cpc", "ppc", "paid", "paidsocial", "paid_social", "display", "cpm"))
MAX_VALUE_LENGTH = 200
# Segment's context.campaign names (name, source, medium, term, content).
_CAMPAIGN_KEYS = {"name": "utm_campaign", "source": "utm_source", "medium": "utm_medium", "term": "utm_term"}
_CAMPAIGN_KEYS["content"] = "utm_content"


def attribution_from(url: str | None, campaign: dict[str, Any] | None = None) -> dict[str, str]:
    """UTM parameters and click ids of a landing URL (and of a Segment `context.campaign`)."""
    found: dict[str, str] = {}
    if campaign:
        for key, param in _CAMPAIGN_KEYS.items():
            value = campaign.get(key)
            if isinstance(value, str) and value.strip():
                found[param] = value.strip()[:MAX_VALUE_LENGTH]
    if url:
        try:
            query = urlsplit(url).query
        except ValueError:
            query = ""
        for name, value in parse_qsl(query, keep_blank_values=False):
            key = name.lower()
            if (key in UTM_PARAMS or key in CLICK_IDS) and value.strip():
                found.setdefault(key, value.strip()[:MAX_VALUE_LENGTH])
    return found


def attribution_is_paid(attribution: dict[str, str]) -> bool:
    if any(key in attribution for key in PAID_CLICK_IDS):
        return True
    return attribution.get("utm_medium", "").lower() in PAID_MEDIUMS
