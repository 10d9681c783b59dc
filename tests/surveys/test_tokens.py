"""Every customer token page (/s/… and /f/…) opens links and refuses wrong ones alike."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from tests.factories import make_invitation, make_response


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()


@pytest.fixture
def invitation(touchpoint):
    return make_invitation(touchpoint)


def test_it_counts_wrong_links_on_the_survey_and_status_pages_together(client, db, settings):
    settings.HEARD = {**settings.HEARD, "TOKEN_GUESS_LIMIT_PER_MINUTE": 3}
    urls = [reverse("surveys:page", args=[f"guess{n}"]) for n in range(2)]
    urls += [reverse("actions:status", args=["guess2"]), reverse("actions:status", args=["g3"])]
    answers = [client.get(url) for url in urls]
    answers.append(client.get(reverse("surveys:thanks", args=["guess4"])))

    assert [a.status_code for a in answers] == [404, 404, 404, 429, 429]
    assert int(answers[-1]["Retry-After"]) >= 1
    assert "Too many tries" in answers[3].text


def test_it_answers_a_wrong_status_link_with_the_friendly_404(client, db):
    page = client.get(reverse("actions:status", args=["no-such-token"]))

    assert page.status_code == 404
    assert "couldn't find that survey" in page.text


def test_a_scheduled_invitations_token_opens_no_status_page_either(client, touchpoint):
    pending = make_invitation(touchpoint, status="scheduled", sent_at=None, survey_version=None)

    assert client.get(reverse("actions:status", args=[pending.token])).status_code == 404


def test_each_page_keeps_its_own_rule_for_when_its_link_is_gone(client, invitation):
    make_response(invitation, answers={0: False})
    invitation.expires_at = timezone.now() - timedelta(seconds=1)
    invitation.save()

    closed = client.get(reverse("surveys:page", args=[invitation.token]))
    assert closed.status_code == 410
    assert "This survey has closed" in closed.text
    assert client.get(reverse("actions:status", args=[invitation.token])).status_code == 200


def test_the_thanks_page_links_to_the_status_page(client, invitation):
    make_response(invitation, answers={0: True})

    thanks = client.get(reverse("surveys:thanks", args=[invitation.token]))

    assert f'href="{reverse("actions:status", args=[invitation.token])}"' in thanks.text


def test_the_settings_page_shows_the_walls_address(owner_client, org):
    org.wall_enabled = True
    org.save()

    page = owner_client.get(reverse("accounts:settings"))

    assert f'href="{reverse("feedback:wall", args=[org.slug])}"' in page.text
