"""The SSRF guard for URLs a workspace member types in (outbound webhooks, Slack incoming webhooks,
a CRM's instance URL).

A URL is sent to only if every address its host resolves to is public: no private, loopback,
link-local (cloud metadata 169.254.169.254 included), multicast, reserved or unspecified address, in
IPv4, IPv6 or IPv4-mapped IPv6. The check runs after DNS, and the request is then made to the very
address that was checked (the Host header and TLS SNI keep the name), so a DNS answer that changes
between check and connect (rebinding) cannot reach an internal address. Redirects are followed by
hand, at most `MAX_REDIRECTS`, each hop checked the same way. `CLARM_ALLOW_PRIVATE_DESTINATIONS`
(tests, a trusted single-tenant install) lets private and loopback addresses through."""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from django.conf import settings

MAX_REDIRECTS = 3
# What a guarded POST raises when the other end times out or the connection fails, for callers
# outside the provider modules (which may not import the HTTP client themselves).
PostTimeout = httpx.TimeoutException
PostFailed = httpx.HTTPError
_METADATA_HOSTS = frozenset(("metadata.google.internal", "metadata", "instance-data"))


class DestinationUrlRefused(Exception):
    """The URL points somewhere Clarm does not send to; the message says why."""


@dataclass(frozen=True)
class CheckedUrl:
    url: str
    host: str
    address: str


def _private_allowed() -> bool:
    return bool(getattr(settings, "CLARM_ALLOW_PRIVATE_DESTINATIONS", False))


def address_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def url_shape_check(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of an absolute http(s) URL without credentials; no DNS."""
    parts = urlsplit((url or "").strip())
    if parts.scheme not in ("http", "https"):
        raise DestinationUrlRefused("The URL must start with https:// (or http://).")
    if not parts.hostname:
        raise DestinationUrlRefused("The URL has no host name.")
    if parts.username or parts.password:
        raise DestinationUrlRefused("The URL must not contain a user name or password.")
    if parts.hostname.lower() in _METADATA_HOSTS:
        raise DestinationUrlRefused("Cloud metadata addresses are not allowed.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise DestinationUrlRefused("The URL's port is not a number.") from exc
    return parts.scheme, parts.hostname, port


def url_check(url: str) -> CheckedUrl:
    """Resolve the URL's host and refuse it unless every address is public; the address to use."""
    _scheme, host, port = url_shape_check(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DestinationUrlRefused(f"The host {host} does not resolve.") from exc
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise DestinationUrlRefused(f"The host {host} does not resolve.")
    if not _private_allowed():
        for address in addresses:
            if not address_public(address):
                raise DestinationUrlRefused(
                    f"The host {host} resolves to {address}, a private, loopback, link-local or reserved "
                    "address: Clarm only sends to public addresses."
                )
    return CheckedUrl(url=url, host=host, address=addresses[0])


def _pinned(checked: CheckedUrl) -> str:
    parts = urlsplit(checked.url)
    address = f"[{checked.address}]" if ":" in checked.address else checked.address
    netloc = address if parts.port is None else f"{address}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def guarded_post(
    url: str, *, content: bytes, headers: dict[str, str], timeout: float, client: httpx.Client | None = None
) -> httpx.Response:
    """POST to an owner-set URL through the guard; redirects followed by hand, each hop checked.
    A 303 becomes a GET (as browsers do); 307/308 repeat the POST."""
    own = client is None
    http = client or httpx.Client(timeout=timeout, follow_redirects=False)
    try:
        method, body = "POST", content
        for _hop in range(MAX_REDIRECTS + 1):
            checked = url_check(url)
            request_headers = {**headers, "Host": urlsplit(url).netloc.rsplit("@", 1)[-1]}
            response = http.request(
                method,
                _pinned(checked),
                content=body if method == "POST" else None,
                headers=request_headers,
                timeout=timeout,
                extensions={"sni_hostname": checked.host},
            )
            if not response.is_redirect:
                return response
            location = response.headers.get("Location", "")
            if not location:
                return response
            url = urljoin(url, location)
            if response.status_code in (301, 302, 303):
                method, body = ("GET", b"") if response.status_code == 303 else (method, body)
        raise DestinationUrlRefused(f"More than {MAX_REDIRECTS} redirects.")
    finally:
        if own:
            http.close()
