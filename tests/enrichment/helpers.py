"""Small helpers of the enrichment tests."""

from typing import Any


def held(value: Any) -> dict[str, Any]:
    """A JSON profile the test expects to be there."""
    assert isinstance(value, dict), value
    return value
