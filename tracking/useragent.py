"""User agents: browser/os/device families for the event's context, and bot detection.

The verdict is taken from the browser user agent an EVENT carries (the snippet's `user_agent`,
Segment's `context.userAgent`), never from the transport User-Agent of the request: a server that
forwards events (Python's urllib, a chatbot's `AcmeChatbot/2.3`) is not a bot, and its events are
stitched (see `tracking.services`, which also never flags agent/webhook/channel/email events)."""

import re
from functools import lru_cache
from typing import Any

from ua_parser import parse

# Crawlers, link previewers and headless (automated) browsers ua-parser does not already call "Spider".
# Only ever matched against the user agent an event carries: a browser never reports an HTTP library.
_BOT = re.compile(
    r"headless|phantomjs|slimerjs|bot\b|bot/|crawler|spider|crawling|slurp|facebookexternalhit|embedly|bingpreview|"
    r"lighthouse|pagespeed|pingdom|uptimerobot|statuscake|site24x7|ahrefs|semrush|mj12|"
    r"python-urllib|scrapy|nutch|httrack|wget",
    re.IGNORECASE,
)
MAX_UA_LENGTH = 512


@lru_cache(maxsize=8192)
def ua_describe(user_agent: str) -> tuple[dict[str, Any], bool]:
    """({"browser", "os", "device"} families, is_bot) for a user agent string."""
    ua = user_agent[:MAX_UA_LENGTH]
    result = parse(ua)
    described: dict[str, Any] = {}
    if result.user_agent:
        described["browser"] = result.user_agent.family
        if result.user_agent.major:
            described["browser_version"] = result.user_agent.major
    if result.os:
        described["os"] = result.os.family
    if result.device:
        described["device"] = result.device.family
    is_bot = (result.device is not None and result.device.family == "Spider") or bool(_BOT.search(ua))
    if is_bot:
        described["bot"] = True
    return described, is_bot
