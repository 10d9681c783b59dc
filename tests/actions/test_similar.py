"""Similar open problems: the action page suggests open actions whose customers' words are
alike (rapidfuzz over the content words), so staff can link them and tell everyone at once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from actions.models import Action
from actions.queries import SIMILAR_THRESHOLD, similar_open_actions, similarity
from tests.feedback.helpers import make_action

BRAKES = "The brakes squeak when I stop"
REPHRASED = "squeaky brakes whenever I stop the bike"
UNRELATED = "The shop was closed at 5pm"


def open_problem(org, words, **kwargs):
    return make_action(
        org, words=words, created_ago=kwargs.pop("created_ago", timedelta(days=1)), **kwargs
    )


def test_it_scores_a_rephrased_complaint_above_the_threshold_and_an_unrelated_one_below():
    assert similarity(BRAKES, REPHRASED) >= SIMILAR_THRESHOLD
    for other in (
        UNRELATED,
        "I waited and the staff were rude",
        "The bike was not ready when I came to pick it up",
        "my chain slips when I pedal hard",
    ):
        assert similarity(BRAKES, other) < SIMILAR_THRESHOLD, other


def test_it_never_calls_one_shared_word_the_same_problem():
    # token_set_ratio alone calls a subset identical: "stop" would be 100 against anything.
    assert similarity(BRAKES, "stop") == 0
    assert similarity("Brakes!", "The brakes squeak when I stop") == 0


@pytest.mark.django_db
def test_it_suggests_the_rephrased_complaint_and_ignores_the_unrelated_one(org):
    action = open_problem(org, BRAKES)
    rephrased = open_problem(org, REPHRASED)
    open_problem(org, UNRELATED)
    found = similar_open_actions(action=action, now=timezone.now())
    assert [s.action for s in found] == [rephrased]
    assert found[0].score >= SIMILAR_THRESHOLD


@pytest.mark.django_db
def test_it_only_compares_open_actions_of_this_business_from_the_last_90_days(org, other_org):
    action = open_problem(org, BRAKES)
    open_problem(org, REPHRASED, status=Action.Status.DONE, closed_ago=timedelta(hours=1))
    open_problem(org, REPHRASED, created_ago=timedelta(days=91))
    open_problem(other_org, REPHRASED)
    merged = open_problem(org, REPHRASED)
    Action.objects.filter(pk=merged.pk).update(merged_into=action)
    assert similar_open_actions(action=action, now=timezone.now()) == []


@pytest.mark.django_db
def test_it_offers_the_suggestion_on_the_page_and_linking_it_merges_the_customers(
    org, owner, owner_client
):
    action = open_problem(org, BRAKES)
    rephrased = open_problem(org, REPHRASED)
    open_problem(org, UNRELATED)
    html = owner_client.get(action.get_absolute_url()).content.decode()
    similar = html.split('id="similar"')[1].split("</section>")[0]
    assert REPHRASED in similar and UNRELATED not in similar
    assert f'value="action:{rephrased.code}"' in similar
    page = owner_client.post(
        f"/actions/{action.code}/link/", {"target": f"action:{rephrased.code}"}
    )
    assert page.status_code == 302
    rephrased.refresh_from_db()
    assert rephrased.merged_into_id == action.pk
    # Merged, it is no longer suggested.
    assert similar_open_actions(action=action, now=timezone.now()) == []
