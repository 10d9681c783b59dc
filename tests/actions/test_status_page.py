from datetime import timedelta

import pytest
from django.utils import timezone

from actions.models import Action
from actions.services import action_close, loop_message_send
from actions.views import STATUS_PAGE_DAYS
from surveys.models import Invitation, Response


def test_it_answers_429_after_too_many_wrong_links_from_one_address(client, db, settings):
    settings.HEARD = {**settings.HEARD, "TOKEN_GUESS_LIMIT_PER_MINUTE": 3}
    statuses = [client.get(f"/f/wrong-token-{n}/").status_code for n in range(5)]
    assert statuses[:3] == [404, 404, 404]
    assert statuses[3:] == [429, 429]
    assert client.post("/f/another-wrong/consent/").status_code == 429


# --- Expiry -----------------------------------------------------------------------------------

STOCK = 0


@pytest.fixture
def action(routed, teammate, org):
    return routed({STOCK: False}, verbatim="No tubes in stock.", staff=teammate, consent=True)


def status_url(action, page=""):
    return f"/f/{action.response.invitation.token}/{page}"


def close_days_ago(action, member, days, tell=False):
    action_close(
        action=action,
        actor=member,
        status=Action.Status.DONE,
        resolution="Ordered more.",
        now=timezone.now(),
    )
    if tell:
        loop_message_send(
            action=action, actor=member, subject="Your tubes", body="Ordered.", now=timezone.now()
        )
    Action.objects.filter(pk=action.pk).update(closed_at=timezone.now() - timedelta(days=days))


def test_it_keeps_the_page_until_the_set_days_after_the_action_closed(client, action, teammate):
    close_days_ago(action, teammate, STATUS_PAGE_DAYS - 1)
    assert client.get(status_url(action)).status_code == 200
    Action.objects.filter(pk=action.pk).update(
        closed_at=timezone.now() - timedelta(days=STATUS_PAGE_DAYS, minutes=1)
    )
    page = client.get(status_url(action))
    assert page.status_code == 410
    assert "This page has expired" in page.text
    assert "No tubes in stock." not in page.text
    assert "Ordered more." not in page.text


def test_it_never_expires_while_the_action_is_open(client, action):
    long_ago = timezone.now() - timedelta(days=3 * STATUS_PAGE_DAYS)
    Response.objects.filter(pk=action.response_id).update(submitted_at=long_ago)
    Invitation.objects.filter(pk=action.response.invitation_id).update(expires_at=long_ago)
    Action.objects.filter(pk=action.pk).update(created_at=long_ago, due_at=long_ago)
    page = client.get(status_url(action))
    assert page.status_code == 200
    assert "No tubes in stock." in page.text


def test_it_expires_the_did_this_sort_it_out_page_with_it(client, action, teammate):
    close_days_ago(action, teammate, STATUS_PAGE_DAYS + 1, tell=True)
    assert client.get(status_url(action, "sorted/?answer=no")).status_code == 410
    page = client.post(status_url(action, "sorted/"), {"answer": "no", "comment": "Still none."})
    assert page.status_code == 410
    action.refresh_from_db()
    assert not action.is_open


def test_it_expires_the_page_of_answers_that_opened_no_action(client, respond):
    response = respond({STOCK: True})
    url = f"/f/{response.invitation.token}/"
    assert client.get(url).status_code == 200
    Response.objects.filter(pk=response.pk).update(
        submitted_at=timezone.now() - timedelta(days=STATUS_PAGE_DAYS + 1)
    )
    assert client.get(url).status_code == 410


def test_a_customer_can_still_stop_being_quoted_once_the_page_has_expired(client, action, teammate):
    close_days_ago(action, teammate, STATUS_PAGE_DAYS + 1)
    page = client.get(status_url(action))
    assert page.status_code == 410
    assert "Don't quote me" in page.text
    done = client.post(status_url(action, "consent/"))
    assert done.status_code == 200
    assert "We won't quote your words publicly" in done.text
    assert "No tubes in stock." not in done.text
    action.response.refresh_from_db()
    assert action.response.consent_withdrawn_at is not None
