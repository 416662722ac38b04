"""The snippet is served as a cacheable script."""

import gzip


def test_snippet_is_served_as_javascript_with_caching_headers(client):
    response = client.get("/static/clarm.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert "max-age=300" in response["Cache-Control"]
    body = b"".join(response.streaming_content)
    assert b"ClarmTrack" in body
    assert len(gzip.compress(body, 9)) < 6.5 * 1024  # the snippet and the chat widget's loader
