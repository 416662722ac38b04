"""One-click unsubscribe (RFC 8058): GET never changes anything, POST does, repeating is harmless."""

import datetime

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from identity.models import ConsentRecord, Customer, Suppression
from identity.privacy.tokens import preferences_token, unsubscribe_token, unsubscribe_url

pytestmark = pytest.mark.django_db


def path_for(customer, purpose="marketing_email") -> str:
    return reverse("privacy:unsubscribe", kwargs={"token": unsubscribe_token(customer, purpose)})


def test_url_helper_is_absolute_and_purpose_bound(person):
    url = unsubscribe_url(person.customer, "marketing_sms")
    assert url.startswith("http") and "/u/" in url
    with pytest.raises(ValueError):
        unsubscribe_url(person.customer, "analytics")


def test_get_shows_a_button_and_changes_nothing(client, person):
    response = client.get(path_for(person.customer))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Unsubscribe from marketing email?" in html
    assert "<button" in html
    customer = Customer.objects.get(pk=person.customer.pk)
    assert customer.allow_marketing_email
    assert not Suppression.objects.exists() and not ConsentRecord.objects.exists()


def test_one_click_post_without_cookie_unsubscribes_and_repeats_harmlessly(person):
    # A mail client: no CSRF cookie, the RFC 8058 body.
    client = Client(enforce_csrf_checks=True)
    path = path_for(person.customer)
    first = client.post(path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert first.status_code == 200
    assert "You are unsubscribed" in first.content.decode()
    customer = Customer.objects.get(pk=person.customer.pk)
    assert not customer.allow_marketing_email
    assert customer.allow_marketing_sms and customer.allow_analytics
    assert Suppression.objects.filter(marketing_email=True).count() == 4
    assert ConsentRecord.objects.filter(source="unsubscribe").count() == 1

    again = client.post(path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert again.status_code == 200
    assert ConsentRecord.objects.filter(source="unsubscribe").count() == 1
    assert Suppression.objects.count() == 4


def test_sms_purpose(client, person):
    client.post(path_for(person.customer, "marketing_sms"))
    customer = Customer.objects.get(pk=person.customer.pk)
    assert not customer.allow_marketing_sms and customer.allow_marketing_email


def test_tampered_expired_or_foreign_tokens_change_nothing(client, person):
    token = unsubscribe_token(person.customer, "marketing_email")
    bad_tokens = [
        token[:-2] + ("xy" if not token.endswith("xy") else "zz"),
        "garbage",
        preferences_token(person.customer),
    ]
    for bad in bad_tokens:
        response = client.post(reverse("privacy:unsubscribe", kwargs={"token": bad}))
        assert response.status_code == 400
        assert "This link is not valid" in response.content.decode()
    with time_machine.travel(datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(days=401)):
        response = client.post(reverse("privacy:unsubscribe", kwargs={"token": token}))
    assert response.status_code == 400
    assert Customer.objects.get(pk=person.customer.pk).allow_marketing_email
    assert not Suppression.objects.exists()


def test_link_of_an_erased_person_is_harmless(client, person):
    path = path_for(person.customer)
    Customer.objects.filter(pk=person.customer.pk).delete()
    response = client.post(path)
    assert response.status_code == 200
    assert "nothing on record" in response.content.decode()
