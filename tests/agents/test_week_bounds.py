"""A `?week=` outside the years a summary can cover is a 400 naming the year, never a 500."""

import pytest

from agents.summary.periods import week_key_parse


@pytest.mark.parametrize("key", ["0001-W01", "1969-W52", "9999-W01"])
def test_years_outside_1970_to_9998_are_refused(key):
    with pytest.raises(ValueError, match="the year must be from 1970 to 9998"):
        week_key_parse(key)


def test_edges_and_digits():
    assert week_key_parse("1970-W02") == (1970, 2)
    assert week_key_parse("9998-W52") == (9998, 52)
    for key in ("２０２５-W11", "2025-W11\n"):
        with pytest.raises(ValueError, match="is not a week like 2025-W11"):
            week_key_parse(key)


@pytest.mark.parametrize("path", ["summary/", "summary.pdf"])
def test_summary_pages_answer_400_for_year_one(client, tenant, path):
    client.force_login(tenant.owner)
    r = client.get(f"/w/{tenant.workspace.slug}/{path}", {"week": "0001-W01"})
    assert r.status_code == 400
    assert r.content.decode() == "week: '0001-W01': the year must be from 1970 to 9998."
    good = client.get(f"/w/{tenant.workspace.slug}/summary/", {"week": "2025-W11"})
    assert good.status_code == 200
