"""Parsing and validation of workspace settings values, shared by forms, services and commands."""

import re
import zoneinfo
from urllib.parse import urlsplit

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

# Zone names that are not places a business is in.
_NOT_PLACES = {"localtime", "Factory"}
TIMEZONES = sorted(zoneinfo.available_timezones() - _NOT_PLACES)
_TIMEZONE_SET = frozenset(TIMEZONES)

RETENTION_MIN_MONTHS = 1
RETENTION_MAX_MONTHS = 120
MAX_SUMMARY_RECIPIENTS = 50
MAX_ALLOWED_ORIGINS = 50

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_SPLIT = re.compile(r"[\s,;]+")


def timezone_validate(name: str) -> str:
    name = (name or "").strip()
    if name not in _TIMEZONE_SET:
        raise ValidationError(f"“{name}” is not a known time zone (use an IANA name such as Europe/London).")
    return name


def region_validate(region: str) -> str:
    region = (region or "").strip().lower()
    if region not in settings.CLARM_REGIONS:
        allowed = ", ".join(settings.CLARM_REGIONS)
        raise ValidationError(f"“{region}” is not a region of this deployment (one of: {allowed}).")
    return region


def country_validate(code: str) -> str:
    """An ISO 3166-1 alpha-2 code that phone numbers can be read for, uppercased."""
    code = (code or "").strip().upper()
    if len(code) != 2 or code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(f"“{code}” is not a two-letter ISO 3166 country code (for example US, GB, DE).")
    return code


def split_list(text: str) -> list[str]:
    """Items separated by commas, semicolons, spaces or new lines."""
    return [item for item in _SPLIT.split(text or "") if item]


def emails_parse(text: str) -> list[str]:
    """A list of email addresses, deduplicated (case-insensitively), each one validated."""
    result: list[str] = []
    seen: set[str] = set()
    bad: list[str] = []
    for item in split_list(text):
        try:
            validate_email(item)
        except ValidationError:
            bad.append(item)
            continue
        if item.lower() not in seen:
            seen.add(item.lower())
            result.append(item)
    if bad:
        listed = ", ".join(f"“{b}”" for b in bad[:5])
        raise ValidationError(f"Not valid email addresses: {listed}.")
    if len(result) > MAX_SUMMARY_RECIPIENTS:
        raise ValidationError(f"At most {MAX_SUMMARY_RECIPIENTS} recipients.")
    return result


def origin_normalize(value: str) -> str:
    """`https://Shop.Example:443/` → `https://shop.example`; ValidationError naming the problem."""
    raw = value.strip()
    if raw.endswith("/"):
        raw = raw[:-1]
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise ValidationError(f"“{value}” is not an origin: {exc}.") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise ValidationError(f"“{value}” is not an origin: it must start with https:// (or http://).")
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise ValidationError(
            f"“{value}” is not an origin: use only scheme and host, like https://shop.example (no path)."
        )
    host = (parts.hostname or "").lower()
    if not host or not all(_HOST_LABEL.match(label) for label in host.split(".")):
        raise ValidationError(f"“{value}” is not an origin: “{host or '(empty)'}” is not a host name.")
    scheme = parts.scheme.lower()
    default_port = 443 if scheme == "https" else 80
    suffix = f":{port}" if port is not None and port != default_port else ""
    return f"{scheme}://{host}{suffix}"


def origins_parse(text: str) -> list[str]:
    result: list[str] = []
    errors: list[ValidationError] = []
    for item in split_list(text):
        try:
            origin = origin_normalize(item)
        except ValidationError as exc:
            errors.append(exc)
            continue
        if origin not in result:
            result.append(origin)
    if errors:
        raise ValidationError(errors)
    if len(result) > MAX_ALLOWED_ORIGINS:
        raise ValidationError(f"At most {MAX_ALLOWED_ORIGINS} origins.")
    return result


def retention_validate(months: int) -> int:
    if not RETENTION_MIN_MONTHS <= months <= RETENTION_MAX_MONTHS:
        raise ValidationError(f"Retention must be between {RETENTION_MIN_MONTHS} and {RETENTION_MAX_MONTHS} months.")
    return months
