"""A logging filter that takes personal data and secrets out of every log line before it is
written: email addresses, phone numbers, IP addresses, API keys and signing secrets, bearer and
basic credentials, and the tokens in links (password reset, email confirmation, invitations,
preferences, unsubscribe, data requests, tracked links), in the message, its arguments and the
traceback. Installed on every handler of LOGGING (clarm.settings.base) and on gunicorn's access and
error logs (clarm/gunicorn_conf.py).

The trade-off: any run of 22+ letters/digits with both in it is taken for a token (canonical
UUIDs excepted), so a long identifier in a log line shows as [token] too; logs lose a little
detail, never a secret."""

import ipaddress
import logging
import re

_QUERY_SECRET = re.compile(
    r"(?i)([?&;](?:key|token|secret|password|passwd|pw|email|e-mail|phone|code|sig|signature|auth|"
    r"api_key|apikey|access_token|refresh_token|write_key|secret_key|user_id|visitor_id|anonymousid|ip)=)[^&\s\"']*"
)
_TOKEN_PATH = re.compile(
    r"(/(?:privacy/preferences|privacy/requests|invitations|accounts/password/reset/key|accounts/confirm-email"
    r"|u|l|o)/)[^/\s?\"']+"
)
_CREDENTIALS = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{6,}")
_PREFIXED_KEY = re.compile(r"\b(?:wk|sk|pk|rk|whsec|SG|AC|SK)[_.][A-Za-z0-9_.-]{8,}")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6_CANDIDATE = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_PHONE = re.compile(r"(?:\+|%2[Bb]|(?<![\w.])00)\d[\d\s().-]{6,}\d|\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b")
# A canonical UUID (Celery task ids, row ids) is an identifier, not a secret: kept.
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
_LONG_TOKEN = re.compile(
    rf"(?<![A-Za-z0-9_-])(?!{_UUID})(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{{22,}}\b"
)


def _ipv6(match: re.Match[str]) -> str:
    text = match.group()
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return text  # a time of day, a MAC-like label: not an address
    return "[ip]"


def redact(text: str) -> str:
    """The text with personal data and secrets replaced by [email], [phone], [ip], [redacted]."""
    text = _QUERY_SECRET.sub(r"\1[redacted]", text)
    text = _TOKEN_PATH.sub(r"\1[redacted]", text)
    text = _CREDENTIALS.sub(r"\1 [redacted]", text)
    text = _PREFIXED_KEY.sub("[key]", text)
    text = _EMAIL.sub("[email]", text)
    text = _IPV4.sub("[ip]", text)
    text = _IPV6_CANDIDATE.sub(_ipv6, text)
    text = _PHONE.sub("[phone]", text)
    return _LONG_TOKEN.sub("[token]", text)


class RedactFilter(logging.Filter):
    """Rewrites the record in place (message, arguments, traceback); never drops a record."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a message whose arguments do not fit: keep what was given, redacted
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
