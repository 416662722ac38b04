"""API conventions shared by every app: error bodies are `{"error": "...", "details": ...}`."""

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(data, dict) and "detail" in data and len(data) == 1:
        response.data = {"error": str(data["detail"]), "details": None}
    elif isinstance(data, dict) and "error" in data:
        pass
    else:
        response.data = {"error": "Invalid request.", "details": data}
    return response
