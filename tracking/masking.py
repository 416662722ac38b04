"""Contact details in what is stored with an event are replaced by their identifier mask.

Plain email addresses and phone numbers live only on the customer record (DESIGN, privacy). What
an event carries (its name, properties, context, URL, referrer) is walked once before it is stored:
- every email address, in any key at any depth, in free text and in URLs (also percent-encoded,
  `jane%40example.com`), becomes `tracking.normalize.mask`'s `j***@example.com`;
- a value under a phone-like key (`phone`, `Phone`, `mobile_phone`, `tel`, …), and a phone-like
  query parameter of a URL, becomes the phone mask (`+14******23`) when it reads as a number, or
  has its digits starred when it does not.
Masks are the ones identifiers get, so the same person reads the same everywhere."""

import functools
import re
from typing import Any
from urllib.parse import quote, unquote_plus

from tracking.normalize import IdentifierKind, email_normalize, mask, phone_normalize

# Local part (at most 64 characters, as in RFC 5321, which also bounds the work on long text): what
# addresses use in practice, and %XX escapes (but not %40, the escaped "@"). URL delimiters
# (/ ? & = # :) are left out so the other parts of a query string are not taken as the address.
_EMAIL = re.compile(
    r"(?P<local>(?:[\w.!$'*+^`{|}~-]|%(?!40)[0-9A-Fa-f]{2}){1,64})"
    r"(?P<at>@|%40)"
    r"(?P<domain>[\w-]{1,63}(?:\.[\w-]{1,63}){0,8}\.[^\W\d_]{2,63})",
)
# A query-string parameter (`name=value`), at the start of a text or after ?, & or ;.
_PARAM = re.compile(r"(?:^|(?<=[?&;]))(?P<name>[^=&;#?\s]{1,64})=(?P<value>[^&;#\s]*)")
_PHONE_WORDS = frozenset(("phone", "mobile", "tel", "telephone", "whatsapp"))
# Cheap test before the query string is parsed: most URLs name no phone at all.
_PHONE_HINT = re.compile("phone|mobile|tel|whatsapp", re.IGNORECASE)
_DIGIT = re.compile(r"\d")
# A value under a phone-like name that does not parse as a number is still starred from this many
# digits on (a number typed in a form may be badly formatted; it is still a number).
_MIN_PHONE_DIGITS = 5


@functools.lru_cache(maxsize=4096)
def _phone_name(name: str) -> bool:
    """`phone`, `Phone`, `mobile_phone`, `mobilePhone`, `tel`, `whatsapp`: yes; `hotel`: no."""
    words = re.sub(r"[^a-z]+", " ", re.sub(r"([a-z])([A-Z])", r"\1 \2", name).lower()).split()
    return any(word in _PHONE_WORDS or word.endswith("phone") for word in words)


def _email_mask(found: re.Match[str]) -> str:
    address = f"{unquote_plus(found['local'])}@{unquote_plus(found['domain'])}"
    normalized = email_normalize(address) or address.lower()
    masked = mask(IdentifierKind.EMAIL, normalized)
    return masked if found["at"] == "@" else masked.replace("@", "%40")


def _phone_mask(value: str, country: str) -> str:
    normalized = phone_normalize(value, default_country=country)
    if normalized is not None:
        return mask(IdentifierKind.PHONE, normalized)
    if len(_DIGIT.findall(value)) < _MIN_PHONE_DIGITS:
        return value
    return _DIGIT.sub("*", value[:-2]) + value[-2:]


def _text_mask(text: str, country: str) -> str:
    if "@" in text or "%40" in text:
        text = _EMAIL.sub(_email_mask, text)
    if "=" in text and _PHONE_HINT.search(text):

        def param(found: re.Match[str]) -> str:
            if not _phone_name(unquote_plus(found["name"])):
                return found[0]
            value = unquote_plus(found["value"])
            masked = _phone_mask(value, country)
            return found[0] if masked == value else f"{found['name']}={quote(masked, safe='*')}"

        text = _PARAM.sub(param, text)
    return text


def contacts_mask(value: Any, *, country: str) -> Any:
    """`value` (a JSON value) with every contact detail in it masked; `country` reads national
    phone numbers (the workspace's default country)."""
    if isinstance(value, str):
        return _text_mask(value, country)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(item, str) and "@" in item and "mail" in key.lower() and (whole := email_normalize(item)):
                out[_text_mask(key, country)] = mask(IdentifierKind.EMAIL, whole)  # " Jane@X.com " whole
            elif _phone_name(key) and isinstance(item, str | int) and not isinstance(item, bool):
                masked = _phone_mask(str(item), country)
                out[_text_mask(key, country)] = item if masked == str(item) else masked
            elif isinstance(item, str | dict | list):
                out[_text_mask(key, country)] = contacts_mask(item, country=country)
            else:  # numbers, booleans, null
                out[_text_mask(key, country)] = item
        return out
    if isinstance(value, list):
        return [contacts_mask(item, country=country) for item in value]
    return value
