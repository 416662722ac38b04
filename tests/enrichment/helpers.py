"""Small helpers of the enrichment tests."""

from typing import Any


def held(value: Any) -> dict[str, Any]:
    """A JSON profile the test expects to be there."""
    assert isinstance(value, dict), value
    return value


def page(path: str, visitor: str = "visitor-keen") -> dict[str, Any]:
    """A page view of `visitor` on acme.test, as /api/track takes it."""
    return {"event": "page_view", "visitor_id": visitor, "session_id": "s-1", "url": f"https://acme.test{path}"}
