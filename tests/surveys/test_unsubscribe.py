import pytest
from django.test import Client

from surveys.models import Customer
from tests.factories import make_invitation


@pytest.fixture
def invitation(touchpoint):
    return make_invitation(touchpoint)


def url(invitation):
    return f"/s/{invitation.token}/unsubscribe/"


def test_get_shows_a_confirmation_and_changes_nothing(client, invitation):
    for _ in range(2):
        response = client.get(url(invitation))
        assert response.status_code == 200
    assert client.head(url(invitation)).status_code == 200
    assert "Unsubscribe me" in response.content.decode()
    assert Customer.objects.get().opted_out_at is None


def test_post_unsubscribes_with_a_way_back(client, invitation):
    response = client.post(url(invitation))
    assert response.status_code == 200
    assert Customer.objects.get().opted_out_at is not None
    assert "Ask me again" in response.content.decode()
    client.post(url(invitation), {"action": "resubscribe"})
    assert Customer.objects.get().opted_out_at is None


def test_the_one_click_post_from_a_mail_client_works_without_cookies_or_csrf(invitation):
    mail_client = Client(enforce_csrf_checks=True)
    response = mail_client.post(
        url(invitation),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert Customer.objects.get().opted_out_at is not None


def test_unsubscribing_twice_keeps_the_first_time(client, invitation):
    client.post(url(invitation))
    first = Customer.objects.get().opted_out_at
    client.post(url(invitation))
    assert Customer.objects.get().opted_out_at == first


def test_unsubscribe_rejects_put(client, invitation):
    assert client.put(url(invitation)).status_code == 405
