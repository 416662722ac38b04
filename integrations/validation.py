"""Checks on input a person gives (link targets)."""

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

_url = URLValidator(schemes=["http", "https"])


def target_url_validate(value: str) -> str:
    from integrations.services import IntegrationInputError

    value = (value or "").strip()
    if not value:
        raise IntegrationInputError("target_url is required.")
    if len(value) > 2000:
        raise IntegrationInputError("target_url is longer than 2000 characters.")
    try:
        _url(value)
    except ValidationError as exc:
        raise IntegrationInputError("target_url must be an absolute http(s) URL.") from exc
    return value
