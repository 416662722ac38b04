"""Every page names its icon inline, so no browser asks for /favicon.ico: that request answered 404,
a console error on every page of `make run` (the smoke run fails on any)."""

import re

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

pytestmark = pytest.mark.django_db

ICON = re.compile(r'<link rel="icon" href="data:image/svg\+xml,[^"]+">')


def test_public_signed_in_and_error_pages_name_an_inline_icon(client, tenant):
    pages = [reverse("workspaces:landing"), reverse("account_login"), "/no-such-page/"]
    for url in pages:
        assert ICON.search(client.get(url).content.decode()), url
    client.force_login(tenant.owner)
    ws = tenant.workspace.slug
    for url in [reverse("identity:customers", kwargs={"ws": ws}), reverse("workspaces:settings", kwargs={"ws": ws})]:
        response = client.get(url)
        assert response.status_code == 200
        assert ICON.search(response.content.decode()), url
    assert ICON.search(render_to_string("500.html"))
