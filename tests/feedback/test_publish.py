from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from actions.models import Action, ActionEvent
from feedback import queries
from feedback.models import WallEntry
from feedback.services import wall_entry_publish, wall_entry_unpublish
from tests.hostile import hostile_strings

from .helpers import make_done_consented


def publish_url(action, response):
    return reverse("feedback:wall_publish", args=[action.code, response.invitation.code])


def publish(action, response, member, quote=None, what="We fixed it."):
    return wall_entry_publish(
        action=action,
        response=response,
        quote=quote or response.verbatim,
        what_we_did=what,
        member=member,
        now=timezone.now(),
    )


def test_it_lists_done_consented_actions_on_the_manage_page(owner_client, org, owner):
    action, response = make_done_consented(org)
    page = owner_client.get(reverse("feedback:wall_manage"))
    assert page.status_code == 200
    assert response.verbatim in page.text
    assert publish_url(action, response) in page.text


def test_it_lists_responses_linked_to_an_action(org, owner):
    action, response = make_done_consented(org, link=True)
    assert queries.publishable(org) == [(action, response)]


def test_it_never_offers_words_without_consent(owner_client, org, owner):
    action, response = make_done_consented(org, consent=False)
    assert queries.publishable(org) == []
    with pytest.raises(ValidationError):
        publish(action, response, owner)
    page = owner_client.post(
        publish_url(action, response), {"quote": response.verbatim, "what_we_did": "x"}
    )
    assert page.status_code == 200
    assert "has not agreed to be quoted" in page.text
    assert not WallEntry.objects.exists()


def test_it_never_offers_words_whose_consent_was_withdrawn(org, owner):
    action, response = make_done_consented(org)
    response.consent_withdrawn_at = timezone.now()
    response.save()
    assert queries.publishable(org) == []
    with pytest.raises(ValidationError):
        publish(action, response, owner)


def test_it_refuses_an_action_that_is_not_done(org, owner):
    action, response = make_done_consented(org)
    Action.objects.filter(pk=action.pk).update(status=Action.Status.WONT_DO)
    action.refresh_from_db()
    assert queries.publishable(org) == []
    with pytest.raises(ValidationError):
        publish(action, response, owner)


def test_it_publishes_a_shortened_quote_and_keeps_the_original_in_the_history(
    owner_client, org, owner
):
    original = "The chain slipped again after the repair, and Dave Smith was rude about it."
    action, response = make_done_consented(org, verbatim=original)
    page = owner_client.post(
        publish_url(action, response),
        {"quote": "The chain slipped again after the repair […]", "what_we_did": "New chain."},
    )
    assert page.status_code == 302
    entry = WallEntry.objects.get()
    assert entry.quote == "The chain slipped again after the repair […]"
    assert entry.original_quote == original
    assert entry.attribution == "Pat J."
    assert entry.month == response.submitted_at.astimezone(org.tz).date().replace(day=1)
    assert entry.published_by == owner
    event = ActionEvent.objects.get(action=action, kind=ActionEvent.Kind.PUBLISHED)
    assert event.data["original"] == original
    assert event.data["quote"] == entry.quote


def test_it_refuses_added_words_with_a_clear_message(owner_client, org):
    action, response = make_done_consented(org, verbatim="Slow service at the till.")
    page = owner_client.post(
        publish_url(action, response),
        {"quote": "Great, fast service at the till.", "what_we_did": "Two tills now."},
    )
    assert page.status_code == 200
    assert "never add or reorder words" in page.text
    assert not WallEntry.objects.exists()


def test_it_prefills_the_form_with_the_verbatim_and_what_we_did(owner_client, org):
    action, response = make_done_consented(org)
    page = owner_client.get(publish_url(action, response))
    assert page.status_code == 200
    assert response.verbatim in page.text
    assert action.resolution in page.text
    assert "Pat J." in page.text


def test_it_unpublishes_and_records_it(owner_client, org, owner):
    action, response = make_done_consented(org)
    entry = publish(action, response, owner, quote="The chain slipped again")
    page = owner_client.post(reverse("feedback:wall_unpublish", args=[entry.code]))
    assert page.status_code == 302
    entry.refresh_from_db()
    assert entry.unpublished_at is not None
    event = ActionEvent.objects.get(action=action, kind=ActionEvent.Kind.UNPUBLISHED)
    assert event.data == {
        "entry": str(entry.code),
        "original": response.verbatim,
        "quote": "The chain slipped again",
    }
    # Unpublishing twice writes nothing more.
    wall_entry_unpublish(entry=entry, member=owner, now=timezone.now())
    assert ActionEvent.objects.filter(kind=ActionEvent.Kind.UNPUBLISHED).count() == 1
    # And it can be published again.
    assert queries.publishable(org) == [(action, response)]
    again = publish(action, response, owner)
    assert again.pk == entry.pk and again.unpublished_at is None


def test_it_refuses_to_publish_the_same_words_twice(org, owner):
    action, response = make_done_consented(org)
    publish(action, response, owner)
    with pytest.raises(ValidationError):
        publish(action, response, owner)


@pytest.mark.parametrize("hostile", hostile_strings("markup", "spreadsheet_formulas", "unicode"))
def test_it_stores_or_refuses_hostile_what_we_did_without_a_500(owner_client, org, hostile):
    action, response = make_done_consented(org)
    try:
        hostile.encode()
    except UnicodeEncodeError:
        # No browser can send a lone surrogate; the service still refuses it cleanly.
        with pytest.raises(ValidationError):
            publish(action, response, org.memberships.first() or make_owner(org), what=hostile)
        return
    page = owner_client.post(
        publish_url(action, response), {"quote": response.verbatim, "what_we_did": hostile}
    )
    assert page.status_code in (200, 302)
    entry = WallEntry.objects.filter(response=response).first()
    if entry is not None:
        assert entry.what_we_did == hostile.strip()


def make_owner(org):
    from tests.conftest import make_member

    return make_member(org, "extra@alpha.example", "owner")


def test_outsider_gets_404_on_every_publishing_url(outsider_client, org, owner):
    action, response = make_done_consented(org)
    entry = publish(action, response, owner)
    assert outsider_client.get(publish_url(action, response)).status_code == 404
    assert (
        outsider_client.post(
            publish_url(action, response), {"quote": "x", "what_we_did": "y"}
        ).status_code
        == 404
    )
    assert (
        outsider_client.post(reverse("feedback:wall_unpublish", args=[entry.code])).status_code
        == 404
    )
    entry.refresh_from_db()
    assert entry.unpublished_at is None


def test_it_refuses_staff_on_every_publishing_url(teammate_client, org, owner):
    # The README's contract: owners publish to the wall; staff close loops but don't publish.
    published, published_response = make_done_consented(org)
    entry = publish(published, published_response, owner)
    action, response = make_done_consented(org, verbatim="Other words entirely.")
    assert teammate_client.get(reverse("feedback:wall_manage")).status_code == 403
    assert teammate_client.get(publish_url(action, response)).status_code == 403
    page = teammate_client.post(
        publish_url(action, response), {"quote": response.verbatim, "what_we_did": "Fixed."}
    )
    assert page.status_code == 403
    assert not WallEntry.objects.filter(response=response).exists()
    unpublish = reverse("feedback:wall_unpublish", args=[entry.code])
    assert teammate_client.post(unpublish).status_code == 403
    entry.refresh_from_db()
    assert entry.unpublished_at is None


def test_it_404s_a_response_that_is_not_part_of_the_action(owner_client, org):
    action, _ = make_done_consented(org)
    _, other_response = make_done_consented(org, verbatim="Other words entirely.")
    assert owner_client.get(publish_url(action, other_response)).status_code == 404


def test_it_rejects_wrong_methods(owner_client, org, owner):
    action, response = make_done_consented(org)
    entry = publish(action, response, owner)
    assert (
        owner_client.get(reverse("feedback:wall_unpublish", args=[entry.code])).status_code == 405
    )
    assert owner_client.put(publish_url(action, response)).status_code == 405
    assert owner_client.post(reverse("feedback:wall_manage")).status_code == 405


def test_it_sends_visitors_to_log_in(client, org):
    action, response = make_done_consented(org)
    assert client.get(reverse("feedback:wall_manage")).status_code == 302
    assert client.get(publish_url(action, response)).status_code == 302


def test_it_lists_the_manage_page_in_a_fixed_number_of_queries(
    owner_client, owner, org, django_assert_max_num_queries
):
    for n in range(6):
        action, response = make_done_consented(org, verbatim=f"Words number {n}.")
        if n % 2:
            publish(action, response, owner)
    with django_assert_max_num_queries(10):
        page = owner_client.get(reverse("feedback:wall_manage"))
    assert page.text.count("Unpublish") == 3


def test_it_keeps_the_deadline_of_old_entries_irrelevant(org, owner):
    # Publishing does not touch the action: deadlines and status stay as they were.
    action, response = make_done_consented(org)
    before = (action.due_at, action.status, action.closed_at)
    publish(action, response, owner)
    action.refresh_from_db()
    assert (action.due_at, action.status, action.closed_at) == before
    assert action.closed_at < timezone.now() + timedelta(seconds=1)
