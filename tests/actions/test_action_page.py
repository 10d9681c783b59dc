import uuid

import pytest
from django.core import mail
from django.utils import timezone

from accounts.mail import email_send_queued
from actions.models import Action, ActionEvent, ActionResponse, LoopMessage
from actions.services import action_close
from tests.factories import make_customer
from tests.hostile import hostile_strings

STOCK, STAFF_KNEW = 0, 1


def encodable(values):
    """Strings a browser can send: a lone surrogate can't be encoded in a form post."""
    return [v for v in values if not any("\ud800" <= c <= "\udfff" for c in v)]


@pytest.fixture
def action(routed, teammate, org):
    return routed(
        {STOCK: False, STAFF_KNEW: True},
        verbatim="The 26 inch tubes were out again.",
        staff=teammate,
        customer=make_customer(org, name="Pat Jones"),
    )


def url(action, suffix=""):
    return f"/actions/{action.code}/{suffix}"


POSTS = {
    "note/": {"text": "Called the supplier."},
    "reassign/": {"owner": "", "reason": ""},
    "deadline/": {
        "due_at": "2099-01-01T10:00",
        "reason": "Supplier is late.",
        "customer_reason": "the part is late",
    },
    "status/": {"status": "in_progress"},
    "tags/": {"tags": "stock"},
    "close/": {"status": "done", "resolution": "Ordered more."},
    "link/": {"target": ""},
    "tell/": {"subject": "Hi", "body": "Hello"},
}


def test_it_shows_the_words_first_then_answers_and_history(teammate_client, action):
    response = teammate_client.get(url(action))
    assert response.status_code == 200
    html = response.content.decode()
    words = html.index("The 26 inch tubes were out again.")
    assert words < html.index("Was what you needed in stock?") < html.index("History")
    assert "Created" in html and "Assigned" in html


def test_it_shows_the_customers_earlier_feedback(teammate_client, routed, respond, action):
    respond({STOCK: True}, verbatim="Lovely shop, friendly people.", customer=action.customer)
    html = teammate_client.get(url(action)).content.decode()
    assert "Lovely shop, friendly people." in html
    assert "Earlier from" in html


@pytest.mark.parametrize("suffix", ["", "tell/"])
def test_it_is_a_404_for_another_organisation_on_get(outsider_client, action, suffix):
    assert outsider_client.get(url(action, suffix)).status_code == 404


@pytest.mark.parametrize("suffix", list(POSTS))
def test_it_is_a_404_for_another_organisation_on_every_post(outsider_client, action, suffix):
    assert outsider_client.post(url(action, suffix), POSTS[suffix]).status_code == 404
    action.refresh_from_db()
    assert action.status == Action.Status.OPEN
    assert not action.events.exclude(kind__in=["created", "assigned"]).exists()


def test_it_is_a_404_for_an_unknown_code(teammate_client, db):
    assert teammate_client.get(f"/actions/{uuid.uuid4()}/").status_code == 404


@pytest.mark.parametrize("suffix", [s for s in POSTS if s != "tell/"])
def test_it_rejects_get_on_the_forms(teammate_client, action, suffix):
    assert teammate_client.get(url(action, suffix)).status_code == 405


def test_it_rejects_post_on_the_page(teammate_client, action):
    assert teammate_client.post(url(action)).status_code == 405


def test_staff_add_notes(teammate_client, teammate, action):
    response = teammate_client.post(url(action, "note/"), {"text": "Called the supplier."})
    assert response.status_code == 302
    event = action.events.get(kind=ActionEvent.Kind.NOTE)
    assert event.actor == teammate and event.text == "Called the supplier."


def test_it_refuses_an_empty_note(teammate_client, action):
    response = teammate_client.post(url(action, "note/"), {"text": "   "})
    assert response.status_code == 400
    assert not action.events.filter(kind=ActionEvent.Kind.NOTE).exists()


def test_it_reassigns_and_emails_the_new_owner(teammate_client, teammate, owner, action):
    response = teammate_client.post(
        url(action, "reassign/"), {"owner": owner.code, "reason": "Alice orders stock."}
    )
    assert response.status_code == 302
    action.refresh_from_db()
    assert action.owner == owner
    event = action.events.get(kind=ActionEvent.Kind.REASSIGNED)
    assert event.data == {"from": "Bob Baker", "to": "Alice Archer"}
    assert event.actor == teammate
    email_send_queued(now=timezone.now())
    assert any(m.to == [owner.user.email] and "passed you" in m.subject for m in mail.outbox)


def test_it_will_not_reassign_to_another_organisations_member(teammate_client, outsider, action):
    response = teammate_client.post(url(action, "reassign/"), {"owner": outsider.code})
    assert response.status_code == 400
    action.refresh_from_db()
    assert action.owner != outsider


def test_changing_the_deadline_needs_a_reason(teammate_client, action):
    before = action.due_at
    response = teammate_client.post(url(action, "deadline/"), {"due_at": "2099-03-02T10:00"})
    assert response.status_code == 400
    action.refresh_from_db()
    assert action.due_at == before
    # The customer can be emailed, so they are owed a reason in their own words too.
    response = teammate_client.post(
        url(action, "deadline/"), {"due_at": "2099-03-02T10:00", "reason": "Supplier late."}
    )
    assert response.status_code == 400
    assert "in words for the customer" in response.text
    response = teammate_client.post(
        url(action, "deadline/"),
        {
            "due_at": "2099-03-02T10:00",
            "reason": "Supplier late.",
            "customer_reason": "the part is on back order",
        },
    )
    assert response.status_code == 302
    action.refresh_from_db()
    assert action.due_at.isoformat() == "2099-03-02T10:00:00+00:00"  # London in winter = UTC
    event = action.events.get(kind=ActionEvent.Kind.DEADLINE_CHANGED)
    assert event.text == "Supplier late." and event.data["from"] == before.isoformat()
    assert event.data["customer_reason"] == "the part is on back order"
    assert action.first_due_at == before


def test_it_marks_in_progress_and_waiting(teammate_client, action):
    teammate_client.post(url(action, "status/"), {"status": "in_progress"})
    action.refresh_from_db()
    assert action.status == Action.Status.IN_PROGRESS and action.first_reply_at
    teammate_client.post(url(action, "status/"), {"status": "waiting"})
    action.refresh_from_db()
    assert action.status == Action.Status.WAITING and action.paused_at
    assert teammate_client.post(url(action, "status/"), {"status": "done"}).status_code == 400


def test_it_tags(teammate_client, action):
    teammate_client.post(url(action, "tags/"), {"tags": "stock, Stock, tubes"})
    assert sorted(t.name for t in action.tags.all()) == ["stock", "tubes"]
    assert action.events.filter(kind=ActionEvent.Kind.TAGGED).count() == 1


@pytest.mark.parametrize("status", ["done", "wont_do"])
def test_closing_needs_what_we_did(teammate_client, action, status):
    response = teammate_client.post(url(action, "close/"), {"status": status, "resolution": " "})
    assert response.status_code == 400
    assert b"the customer will read it" in response.content
    action.refresh_from_db()
    assert action.is_open


def test_it_closes_and_goes_on_to_tell_the_customer(teammate_client, teammate, action):
    response = teammate_client.post(
        url(action, "close/"), {"status": "done", "resolution": "We ordered twenty more."}
    )
    assert response.status_code == 302 and response["Location"] == url(action, "tell/")
    action.refresh_from_db()
    assert action.status == Action.Status.DONE
    assert action.closed_by == teammate and action.closed_on_time is True
    assert action.resolution == "We ordered twenty more."
    action.customer.refresh_from_db()
    assert not action.customer.survey_hold


def test_it_prefills_previews_then_sends_the_loop_message(teammate_client, teammate, action):
    teammate_client.post(
        url(action, "close/"), {"status": "done", "resolution": "We ordered twenty more."}
    )
    page = teammate_client.get(url(action, "tell/")).content.decode()
    assert "sorry" in page and "We ordered twenty more." in page and "Bob" in page
    preview = teammate_client.post(
        url(action, "tell/"), {"subject": "About the tubes", "body": "Sorry, Pat.", "preview": "1"}
    )
    assert preview.status_code == 200 and b"Preview" in preview.content
    assert not LoopMessage.objects.exists()
    sent = teammate_client.post(
        url(action, "tell/"),
        {"subject": "About the tubes", "body": "Sorry, Pat.\nWe ordered more.", "send": "1"},
    )
    assert sent.status_code == 302
    message = LoopMessage.objects.get()
    assert message.sent_by == teammate and message.queued_at
    assert email_send_queued(now=timezone.now()) >= 1
    email = next(m for m in mail.outbox if m.subject == "About the tubes")
    assert email.to == [action.customer.email]
    # Replies come back to the action (which forwards them to the teammate), not straight
    # to one person's mailbox.
    (reply_to,) = email.reply_to
    assert reply_to.startswith("r-") and reply_to.endswith("@reply.localhost")
    assert "Alpha Bikes" in email.from_email
    token = action.response.invitation.token
    body = email.body
    assert body.startswith("Hi Pat,")
    assert "The 26 inch tubes were out again." in body
    assert "Sorry, Pat.\nWe ordered more." in body
    assert body.index("We ordered more.") < body.index("Did this sort it out?")
    assert f"http://testserver/f/{token}/sorted/?answer=yes" in body
    assert f"http://testserver/f/{token}/sorted/?answer=no" in body
    html = email.alternatives[0].content
    assert f"/f/{token}/sorted/?answer=no" in html
    # Sending again tells nobody twice.
    teammate_client.post(url(action, "tell/"), {"subject": "Again", "body": "Again", "send": "1"})
    assert LoopMessage.objects.count() == 1


def test_it_will_not_tell_before_closing(teammate_client, action):
    response = teammate_client.post(
        url(action, "tell/"), {"subject": "x", "body": "y", "send": "1"}
    )
    assert response.status_code == 302
    assert not LoopMessage.objects.exists()


def test_merging_tells_every_linked_customer(teammate_client, teammate, routed, org, action):
    other = routed(
        {STOCK: False},
        verbatim="No tubes for my kid's bike either.",
        customer=make_customer(org, name="Sam Lee"),
    )
    response = teammate_client.post(url(action, "link/"), {"target": f"action:{other.code}"})
    assert response.status_code == 302
    other.refresh_from_db()
    assert other.merged_into == action and not other.is_open
    assert ActionResponse.objects.filter(action=action).count() == 2
    other.customer.refresh_from_db()
    assert other.customer.survey_hold  # their feedback is on an open action still
    action_close(
        action=action,
        actor=teammate,
        status=Action.Status.DONE,
        resolution="Restocked.",
        now=timezone.now(),
    )
    teammate_client.post(
        url(action, "tell/"), {"subject": "Tubes", "body": "Restocked.", "send": "1"}
    )
    email_send_queued(now=timezone.now())
    told = sorted(m.to[0] for m in mail.outbox if m.subject == "Tubes")
    assert told == sorted([action.customer.email, other.customer.email])
    sam = next(m for m in mail.outbox if m.to == [other.customer.email])
    assert sam.body.startswith("Hi Sam,") and "26 inch tubes" not in sam.body


def test_it_links_feedback_that_opened_no_action(teammate_client, respond, action):
    quiet = respond({STOCK: True}, verbatim="")
    response = teammate_client.post(url(action, "link/"), {"target": f"response:{quiet.pk}"})
    assert response.status_code == 302
    assert ActionResponse.objects.get(response=quiet).action == action


def test_it_will_not_link_another_organisations_action(
    teammate_client, action, other_org, outsider
):
    from actions.routing import response_route
    from tests.factories import make_invitation, make_response, make_touchpoint

    tp = make_touchpoint(other_org)
    theirs = response_route(
        response_id=make_response(make_invitation(tp), {STOCK: False}).pk, now=timezone.now()
    )
    for target in (f"action:{theirs.code}", f"response:{theirs.response_id}", "action:nope"):
        assert teammate_client.post(url(action, "link/"), {"target": target}).status_code == 400
    assert ActionResponse.objects.get(response=theirs.response).action == theirs


def test_it_stores_and_escapes_hostile_text_in_every_field(
    teammate_client, teammate, owner, action
):
    texts = encodable(hostile_strings())
    for text in texts:
        assert teammate_client.post(url(action, "note/"), {"text": text}).status_code in (302, 400)
        teammate_client.post(
            url(action, "deadline/"), {"due_at": "2099-01-01T10:00", "reason": text}
        )
        teammate_client.post(url(action, "reassign/"), {"owner": owner.code, "reason": text})
        teammate_client.post(url(action, "reassign/"), {"owner": teammate.code, "reason": text})
        teammate_client.post(url(action, "tags/"), {"tags": text})
    notes = list(action.events.filter(kind="note").values_list("text", flat=True))
    assert "<script>alert(1)</script>" in notes and "=1+1" in notes
    html = teammate_client.get(url(action)).content.decode()
    assert (
        "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    )
    assert "<svg/onload" not in html
    closing = "<script>alert(1)</script> Robert'); DROP TABLE surveys_response;--"
    teammate_client.post(url(action, "close/"), {"status": "done", "resolution": closing})
    action.refresh_from_db()
    assert action.resolution == closing
    teammate_client.post(
        url(action, "tell/"),
        {"subject": "Pat\r\nBcc: victim@example.com", "body": closing, "send": "1"},
    )
    email_send_queued(now=timezone.now())
    email = next(m for m in mail.outbox if m.to == [action.customer.email])
    assert "\n" not in email.subject and "Bcc" not in str(email.message()["Bcc"] or "")
    assert "<script>" not in email.alternatives[0].content


def test_it_refuses_nul_and_lone_surrogates_without_failing(teammate, action):
    from actions.services import action_note_add

    event = action_note_add(
        action=action, actor=teammate, text="before\x00after \ud83d end", now=timezone.now()
    )
    event.refresh_from_db()
    assert "\x00" not in event.text and event.text.startswith("beforeafter")


def test_it_records_history_and_deletes_nothing(teammate_client, teammate, action):
    teammate_client.post(url(action, "note/"), {"text": "one"})
    teammate_client.post(url(action, "status/"), {"status": "in_progress"})
    teammate_client.post(url(action, "close/"), {"status": "wont_do", "resolution": "Not stocked."})
    kinds = list(action.events.values_list("kind", flat=True))
    assert kinds == ["created", "assigned", "note", "status_changed", "closed"]
    assert all(e.created_at <= timezone.now() for e in action.events.all())


def test_a_first_time_customer_has_no_earlier_card(teammate_client, action):
    html = teammate_client.get(f"/actions/{action.code}/").content.decode()
    assert "Earlier from" not in html
