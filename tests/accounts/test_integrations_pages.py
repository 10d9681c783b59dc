"""The owners' integrations pages under /settings/integrations/."""

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from accounts import hooks
from accounts.models import WebhookDelivery, WebhookEndpoint

URL = "/settings/integrations/"


def _secret_in(body: str) -> str:
    return body.split('<p class="secret" id="webhook-secret">', 1)[1].split("</p>", 1)[0]


def _endpoint(org, owner, url="https://a.example/x"):
    """A webhook for action.closed, made the way the page makes one: (endpoint, secret)."""
    return hooks.webhook_endpoint_create(
        org=org,
        kind="webhook",
        url=url,
        events=["action.closed"],
        description="",
        touchpoints=[],
        by=owner,
        now=timezone.now(),
    )


def _create(client, **fields):
    data = {
        "kind": "webhook",
        "url": "https://hooks.example.com/heard",
        "description": "CRM",
        "events": ["action.closed", "action.created"],
        "touchpoints": "",
        **fields,
    }
    return client.post(URL, data)


def test_it_creates_a_webhook_and_shows_its_secret_once(owner_client, org):
    response = _create(owner_client)
    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    secret = _secret_in(response.content.decode())
    endpoint = WebhookEndpoint.objects.get(org=org)
    assert secret.startswith("whsec_") and endpoint.secret == secret
    assert endpoint.events == ["action.closed", "action.created"]
    Webhook(secret)  # a valid Standard Webhooks secret
    again = owner_client.get(URL).content.decode()
    assert secret not in again and "CRM" in again


def test_the_settings_tabs_link_integrations_for_owners_only(owner_client, teammate_client):
    assert 'href="/settings/integrations/"' in owner_client.get("/settings/").content.decode()
    assert (
        'href="/settings/integrations/"' not in teammate_client.get("/settings/").content.decode()
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",
        "https://127.0.0.1/x",
        "https://[::1]/x",
        "https://10.1.2.3/",
        "https://169.254.169.254/",
        "https://localhost/x",
        "ftp://hooks.example.com/",
    ],
)
def test_it_refuses_insecure_or_private_urls(owner_client, url):
    response = _create(owner_client, url=url)
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_a_chat_integration_needs_the_vendors_host_and_has_no_secret(owner_client, org):
    refused = _create(owner_client, kind="slack", url="https://hooks.evil.example/services/x")
    assert refused.status_code == 200 and not WebhookEndpoint.objects.exists()
    response = _create(
        owner_client,
        kind="slack",
        url="https://hooks.slack.com/services/T0/B0/abc",
        touchpoints="repair-collected, bike-sale",
    )
    assert response.status_code == 201
    assert 'id="webhook-secret"' not in response.content.decode()
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret == "" and endpoint.touchpoints == ["repair-collected", "bike-sale"]


def test_it_edits_rotates_switches_and_deletes(owner_client, org, owner):
    endpoint, old = _endpoint(org, owner)
    page = f"{URL}{endpoint.code}/"
    response = owner_client.post(
        page, {"url": "https://b.example/y", "description": "New", "events": ["loop.sent"]}
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.events, endpoint.kind) == (
        "https://b.example/y",
        ["loop.sent"],
        "webhook",
    )

    rotated = owner_client.post(f"{page}rotate/")
    new = _secret_in(rotated.content.decode())
    endpoint.refresh_from_db()
    assert new != old and endpoint.secret == new and endpoint.previous_secret == old

    owner_client.post(f"{page}switch/", {"enabled": "0"})
    endpoint.refresh_from_db()
    assert not endpoint.enabled and "switched off by an owner" in endpoint.disabled_reason.lower()
    owner_client.post(f"{page}switch/", {"enabled": "1"})
    endpoint.refresh_from_db()
    assert endpoint.enabled

    assert owner_client.post(f"{page}delete/").status_code == 302
    assert not WebhookEndpoint.objects.exists()


def test_test_and_replay_buttons_queue_deliveries_shown_in_the_log(owner_client, org, owner):
    endpoint, _ = _endpoint(org, owner)
    page = f"{URL}{endpoint.code}/"
    assert owner_client.post(f"{page}test/").status_code == 302
    test = WebhookDelivery.objects.get()
    assert test.kind == "test" and test.event.type == "webhook.test"
    assert owner_client.post(f"{URL}deliveries/{test.code}/replay/").status_code == 302
    replay = WebhookDelivery.objects.exclude(pk=test.pk).get()
    assert replay.replay_of == test and replay.event_id == test.event_id
    body = owner_client.get(page).content.decode()
    assert test.webhook_id in body and replay.webhook_id in body and "replay" in body


def test_the_log_shows_each_attempt(owner_client, org, owner, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    endpoint, _ = _endpoint(org, owner, url="http://127.0.0.1:9/closed")
    hooks.webhook_endpoint_test(endpoint=endpoint, now=timezone.now())
    hooks.webhooks_send_due(now=timezone.now())
    body = owner_client.get(f"{URL}{endpoint.code}/").content.decode()
    assert "retrying" in body and "<td>1</td>" in body and "ms</td>" in body


def test_staff_cannot_see_or_manage_integrations(teammate_client, org, owner):
    endpoint, _ = _endpoint(org, owner)
    assert teammate_client.get(URL).status_code == 403
    assert teammate_client.get(f"{URL}{endpoint.code}/").status_code == 403
    assert teammate_client.post(f"{URL}{endpoint.code}/delete/").status_code == 403
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
