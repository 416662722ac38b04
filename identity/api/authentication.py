"""Secret-key authentication for the read API: `Authorization: Bearer sk_…`.

Every failure is a 401 whose `error` names the problem (missing, malformed, a write key, revoked,
unknown). On success `request.auth` is the ApiKey and `request.workspace` its workspace.
"""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from workspaces.keys import SECRET_PREFIX, WRITE_PREFIX, key_authenticate, key_lookup_value
from workspaces.models import ApiKey, ApiKeyKind


class SecretKeyAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[None, ApiKey]:
        header = request.headers.get("Authorization", "").strip()
        if not header:
            raise exceptions.AuthenticationFailed("Missing API key: send the header Authorization: Bearer sk_…")
        scheme, _, plain = header.partition(" ")
        plain = plain.strip()
        if scheme.lower() != "bearer" or not plain or " " in plain:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: use Authorization: Bearer sk_…")
        if plain.startswith(WRITE_PREFIX) or key_authenticate(kind=ApiKeyKind.WRITE, plain=plain) is not None:
            raise exceptions.AuthenticationFailed(
                "This is a write key (wk_…), which can only send events. The read API needs a secret key (sk_…)."
            )
        key = key_authenticate(kind=ApiKeyKind.SECRET, plain=plain)
        if key is None:
            revoked = (
                len(plain) <= 128
                and ApiKey.objects.filter(
                    kind=ApiKeyKind.SECRET, lookup=key_lookup_value(ApiKeyKind.SECRET, plain), revoked_at__isnull=False
                ).exists()
            )
            if revoked:
                raise exceptions.AuthenticationFailed("This secret key was revoked: use the workspace's current key.")
            hint = "" if plain.startswith(SECRET_PREFIX) else " Secret keys start with sk_."
            raise exceptions.AuthenticationFailed("Unknown secret key." + hint)
        request._request.workspace = key.workspace  # type: ignore[attr-defined]
        return (None, key)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="clarm"'


class HasSecretKey(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, ApiKey) and request.auth.kind == ApiKeyKind.SECRET


class SecretKeyScheme(OpenApiAuthenticationExtension):
    target_class = "identity.api.authentication.SecretKeyAuthentication"
    name = "secretKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A workspace secret key (sk_…)."}
