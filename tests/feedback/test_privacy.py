"""A customer's data rights: export, erase, the customer's own request, retention, the access
log and the public privacy page (feedback.privacy and each floor's privacy module)."""

import json
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import models
from django.db.models.functions import Cast
from django.urls import reverse
from django.utils import timezone

from accounts.mail import email_build, email_queue
from accounts.models import AccessRecord, InboundEvent, OrgEvent, OutgoingEmail
from accounts.privacy import ERASED, address_hash
from actions.models import ActionEvent, LoopMessage
from feedback import privacy, queries, stats
from feedback.models import WallEntry
from surveys.ingest import InteractionInput
from surveys.models import (
    Customer,
    ErasureRequest,
    Interaction,
    Invitation,
    Question,
    Response,
    Suppression,
)
from surveys.services import interactions_record
from tests.factories import (
    DEFAULT_QUESTIONS,
    make_customer,
    make_invitation,
    make_response,
    make_survey,
    make_touchpoint,
)
from tests.feedback.helpers import make_action

EMAIL = "ravi.quartermaine@example.org"
NAME = "Ravi Quartermaine"
WORDS = "The chain snapped on the climb past Wexcombe mill"
ANSWER_TEXT = "Mechanic Zebedee was brusque about the Wexcombe chain"
REPLY = "Thanks, but the gears still slip on Wexcombe hill"
COMMENT = "Still clunking past the Wexcombe mill pond"
NEEDLES = [EMAIL, NAME, WORDS, ANSWER_TEXT, REPLY, COMMENT]


def _texts_mentioning(needle: str) -> list[str]:
    """Every row of every model whose text, char or JSON field contains ``needle`` (any
    case): walks apps.get_models(), so a field added later can't escape this test."""
    found = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        for field in model._meta.concrete_fields:
            manager = model._base_manager
            if isinstance(field, models.JSONField):
                rows = manager.annotate(_as_text=Cast(field.name, models.TextField())).filter(
                    _as_text__icontains=needle
                )
            elif isinstance(field, models.CharField | models.TextField):
                rows = manager.filter(**{f"{field.name}__icontains": needle})
            else:
                continue
            if rows.exists():
                found.append(f"{model._meta.label}.{field.name}")
    return found


@pytest.fixture
def world(org, owner, client, owner_client):
    """A customer who answered (in words and a written answer), was emailed, replied, was
    told what was done and answered that, was quoted on the wall and in a webhook event."""
    org.wall_enabled = True
    org.save()
    survey = make_survey(
        org, questions=[*DEFAULT_QUESTIONS, (Question.Kind.TEXT, "Anything else?", {})]
    )
    touchpoint = make_touchpoint(org, survey=survey)
    customer = make_customer(org, email=EMAIL, name=NAME)
    invitation = make_invitation(touchpoint, customer=customer)
    Interaction.objects.filter(pk=invitation.interaction_id).update(
        reference="till-4711", metadata={"basket": "chain for Ravi Quartermaine"}
    )
    response = make_response(
        invitation,
        answers={0: False, 2: 1, 3: "Friend", 4: ANSWER_TEXT},
        verbatim=WORDS,
        consent=True,
    )
    action = make_action(
        org, response, status="done", closed_ago=timedelta(hours=1), resolution="New chain fitted."
    )
    email_queue(
        key=f"invitation:{invitation.pk}",
        kind="survey_invitation",
        to=EMAIL,
        template="loop-message",
        org=org,
        context={
            "message": LoopMessage(subject=f"For {NAME}", body=f"Dear {NAME}, about: {WORDS}"),
            "customer": customer,
            "response": response,
            "token": invitation.token,
            "sender": owner,
        },
    )
    OutgoingEmail.objects.create(
        org=org,
        key="reply-notice:1:1",
        kind="reply_notice",
        to=owner.user.email,
        from_email="heard@example.com",
        reply_to=EMAIL,
        subject=f"{NAME} replied",
        body_text=f"{NAME} <{EMAIL}> wrote: {REPLY}",
        body_html=f"<p>{NAME} wrote: {REPLY}</p>",
    )
    InboundEvent.objects.create(
        org=org,
        source="smtp",
        kind=InboundEvent.Kind.REPLY,
        dedupe_key=f"<abc@mail> r-x@in.example {EMAIL}",
        sender=EMAIL,
        subject=f"Re: {WORDS}",
        text=REPLY,
        raw=f"From: {NAME} <{EMAIL}>\n\n{REPLY}\n> {WORDS}",
    )
    ActionEvent.objects.create(
        action=action, kind=ActionEvent.Kind.CUSTOMER_REPLY, text=REPLY, data={"subject": WORDS}
    )
    message = LoopMessage.objects.create(
        action=action,
        response=response,
        subject="What we did",
        body=f"Hello {NAME}, we fitted a new chain.",
        queued_at=timezone.now(),
        outcome="no",
        outcome_at=timezone.now(),
        outcome_comment=COMMENT,
    )
    ActionEvent.objects.create(
        action=action,
        kind=ActionEvent.Kind.CUSTOMER_REPLY,
        text=f"Ravi Q.: No, not sorted. {COMMENT}",
        data={"outcome": "no", "loop_message": str(message.code)},
    )
    WallEntry.objects.create(
        org=org,
        action=action,
        response=response,
        quote=WORDS,
        original_quote=WORDS,
        attribution="Ravi Q.",
        touchpoint=touchpoint,
        touchpoint_name=touchpoint.name,
        month=timezone.now().date().replace(day=1),
        what_we_did="New chain fitted.",
        published_by=owner,
    )
    OrgEvent.objects.create(
        org=org,
        type=OrgEvent.Type.WALL_PUBLISHED,
        payload={"entry": {"quote": WORDS, "attribution": "Ravi Q."}, "to": EMAIL},
    )
    return {"customer": customer, "invitation": invitation, "touchpoint": touchpoint}


def _figures(org, now):
    dashboard = queries.dashboard(org, days=30, touchpoint=None, now=now)
    wall = queries.figures(org, stats.window_for(org, queries.WALL_WINDOW_DAYS, now))
    return repr(dashboard["figures"]), repr(wall), dashboard["questions"]


def _erase(owner_client, email=EMAIL, confirm=EMAIL):
    return owner_client.post(
        reverse("feedback:privacy_erase"), {"email": email, "confirm": confirm}
    )


def test_it_leaves_nothing_of_the_customer_anywhere_after_erasing(
    world, org, owner, owner_client, client
):
    wall_url = reverse("feedback:wall_embed", args=[org.slug])
    assert WORDS in client.get(wall_url).text  # rendered, and now in the wall's caches
    assert WORDS in client.get(reverse("feedback:wall_feed", args=[org.slug])).text
    csv = owner_client.get(reverse("feedback:export_responses"))
    assert EMAIL in b"".join(csv.streaming_content).decode()
    for needle in NEEDLES:
        assert _texts_mentioning(needle), needle  # the search can find them at all
    now = timezone.now()
    before = _figures(org, now)

    assert _erase(owner_client).status_code == 302

    for needle in NEEDLES:
        assert _texts_mentioning(needle) == [], needle
    assert WORDS not in client.get(wall_url).text
    assert WORDS not in client.get(reverse("feedback:wall_feed", args=[org.slug])).text
    assert _figures(org, now) == before
    # What we did stays; the rows that count stay.
    assert Response.objects.filter(org=org).count() == 1
    assert WallEntry.objects.get().what_we_did == "New chain fitted."
    assert Response.objects.get().verbatim == ERASED
    # The customer's links stop working.
    assert client.get(reverse("surveys:page", args=[world["invitation"].token])).status_code == 404
    assert client.get(reverse("actions:status", args=[world["invitation"].token])).status_code == (
        404
    )


def test_it_surveys_an_erased_address_never_again(world, org, owner_client):
    _erase(owner_client)
    assert Suppression.objects.filter(org=org, address_hash=address_hash(EMAIL)).exists()
    now = timezone.now()
    [(interaction, created)] = interactions_record(
        org=org,
        items=[InteractionInput(email=EMAIL.upper(), touchpoint=world["touchpoint"], name=NAME)],
        source="api",
        now=now,
    )
    assert created and interaction.customer_id != world["customer"].pk
    invitation = Invitation.objects.get(interaction=interaction)
    assert invitation.status == Invitation.Status.SKIPPED
    assert invitation.skip_reason == Invitation.SkipReason.SUPPRESSED
    # Someone else is still asked as usual.
    [(other, _)] = interactions_record(
        org=org,
        items=[InteractionInput(email="jo@example.org", touchpoint=world["touchpoint"])],
        source="api",
        now=now,
    )
    assert Invitation.objects.get(interaction=other).status == Invitation.Status.SCHEDULED


def test_it_erases_only_when_the_address_is_typed_again(world, owner_client):
    _erase(owner_client, confirm="someone@example.org")
    assert Customer.objects.get(pk=world["customer"].pk).email == EMAIL
    assert not AccessRecord.objects.filter(kind=AccessRecord.Kind.ERASE).exists()


def test_it_erases_for_owners_only_and_within_their_business(
    world, teammate_client, outsider_client
):
    assert _erase(teammate_client).status_code == 403
    _erase(outsider_client)  # their business has no such customer
    assert Customer.objects.get(pk=world["customer"].pk).email == EMAIL


def test_it_exports_everything_as_one_json_file_with_an_about(world, org, owner, owner_client):
    answer = owner_client.post(reverse("feedback:privacy_export"), {"email": EMAIL})
    assert answer.status_code == 200
    assert "attachment" in answer["Content-Disposition"]
    data = json.loads(answer.content)
    assert "about" in data and "Heard" in data["about"]
    assert data["customers"][0]["customer"]["name"] == NAME
    interaction = data["customers"][0]["interactions"][0]
    assert interaction["response"]["words"] == WORDS
    assert interaction["response"]["consent_to_quote"] is True
    assert interaction["invitation"]["status"] == "sent"
    assert data["actions"][0]["what_we_did"] == "New chain fitted."
    assert data["wall"][0]["quote"] == WORDS
    assert data["emails"][0]["delivery_state"] == "queued"
    assert data["replies_and_bounces"][0]["text"] == REPLY
    assert data["staff_notes_included"] is False
    record = AccessRecord.objects.get(kind=AccessRecord.Kind.EXPORT)
    assert record.member == owner and record.subject == address_hash(EMAIL)
    assert record.detail == "staff notes left out"
    assert EMAIL not in record.subject


def test_it_leaves_staff_notes_out_of_the_export_unless_asked(world, owner_client):
    action = world["customer"].actions.get()
    ActionEvent.objects.create(action=action, kind=ActionEvent.Kind.NOTE, text="Grumpy one.")
    url = reverse("feedback:privacy_export")
    without = json.loads(owner_client.post(url, {"email": EMAIL}).content)
    assert "Grumpy one." not in json.dumps(without)
    with_notes = json.loads(
        owner_client.post(url, {"email": EMAIL, "include_notes": "yes"}).content
    )
    assert "Grumpy one." in json.dumps(with_notes)
    assert AccessRecord.objects.filter(detail="staff notes included").count() == 1


def test_it_logs_searches_and_csv_downloads_without_the_address(world, org, owner, owner_client):
    page = owner_client.get(reverse("feedback:privacy") + f"?email={EMAIL}")
    assert page.status_code == 200 and "1 response" in page.text
    owner_client.get(reverse("feedback:export_actions"))
    kinds = set(AccessRecord.objects.values_list("kind", flat=True))
    assert kinds == {AccessRecord.Kind.CUSTOMER_SEARCH, AccessRecord.Kind.CSV_DOWNLOAD}
    log = owner_client.get(reverse("feedback:privacy")).text
    assert "Downloaded a CSV" in log and "Searched for a customer" in log
    assert _texts_mentioning(EMAIL) != []  # searching and downloading changed nothing
    assert not AccessRecord.objects.filter(subject__icontains="example").exists()
    with pytest.raises(TypeError):
        AccessRecord.objects.first().delete()


def test_it_carries_out_the_customers_own_request_from_the_survey_page(world, client):
    token = world["invitation"].token
    page = reverse("surveys:page", args=[token])
    confirm = client.get(page + "?delete=1")
    assert confirm.status_code == 200 and "Yes, delete what I told you" in confirm.text
    assert not ErasureRequest.objects.exists()  # a GET never records anything
    done = client.post(page, {"delete_my_data": "yes"})
    assert "Your data is being deleted; it takes a minute" in done.text
    request = ErasureRequest.objects.get()
    assert request.source == ErasureRequest.Source.SURVEY_PAGE
    assert privacy.erasure_requests_carry_out(now=timezone.now()) == 1
    assert _texts_mentioning(EMAIL) == [] and _texts_mentioning(WORDS) == []
    assert ErasureRequest.objects.get().done_at is not None
    assert client.get(page).status_code == 404
    assert AccessRecord.objects.get(kind=AccessRecord.Kind.ERASE).member is None
    assert privacy.erasure_requests_carry_out(now=timezone.now()) == 0


def test_it_carries_out_the_customers_own_request_from_the_status_page(world, client):
    page = reverse("actions:status", args=[world["invitation"].token])
    assert "Delete what I told you" in client.get(page).text
    assert "Yes, delete what I told you" in client.get(page + "?delete=1").text
    assert client.post(page, {}).status_code == 405  # the page takes no other POST
    assert "Yes, delete" in client.post(page, {"delete_my_data": "maybe"}).text
    assert not ErasureRequest.objects.exists()
    client.post(page, {"delete_my_data": "yes"})
    client.post(page, {"delete_my_data": "yes"})  # pressed twice: one request
    assert ErasureRequest.objects.get().source == ErasureRequest.Source.STATUS_PAGE
    privacy.erasure_requests_carry_out(now=timezone.now())
    assert Customer.objects.get(pk=world["customer"].pk).erased_at is not None
    assert client.get(page).status_code == 404


def test_the_api_cant_find_an_address_never_seen(org):
    assert not privacy.customer_erase(
        org=org, email="nobody@example.org", member=None, now=timezone.now()
    )
    assert not AccessRecord.objects.exists()


# --- Retention ---------------------------------------------------------------------------------


def _customer_at(org, touchpoint, email, months_ago):
    now = timezone.now()
    customer = make_customer(org, email=email, name=f"Name {email}")
    Customer.objects.filter(pk=customer.pk).update(created_at=now - timedelta(days=800))
    when = now - timedelta(days=31 * months_ago)
    invitation = make_invitation(touchpoint, customer=customer, occurred_at=when)
    make_response(invitation, answers={0: True}, verbatim=f"words of {email}", submitted_at=when)
    return customer


def test_the_retention_sweep_anonymises_exactly_the_customers_past_the_limit(org):
    org.retention_months = 12
    org.save()
    touchpoint = make_touchpoint(org)
    old = _customer_at(org, touchpoint, "old@example.org", months_ago=14)
    recent = _customer_at(org, touchpoint, "recent@example.org", months_ago=2)
    back = _customer_at(org, touchpoint, "back@example.org", months_ago=20)
    make_invitation(touchpoint, customer=back, occurred_at=timezone.now() - timedelta(days=10))

    assert privacy.retention_apply(org=org, now=timezone.now(), batch=1) == 1

    assert Customer.objects.get(pk=old.pk).email == ""
    assert _texts_mentioning("old@example.org") == []
    assert _texts_mentioning("words of old@example.org") == []
    assert Customer.objects.get(pk=recent.pk).email == "recent@example.org"
    assert Customer.objects.get(pk=back.pk).email == "back@example.org"
    # Not suppressed: they aged out, they didn't ask; they may come back and be asked.
    assert not Suppression.objects.exists()

    snapshot = list(Customer.objects.order_by("pk").values())
    responses = list(Response.objects.order_by("pk").values())
    assert privacy.retention_apply(org=org, now=timezone.now()) == 0
    assert list(Customer.objects.order_by("pk").values()) == snapshot
    assert list(Response.objects.order_by("pk").values()) == responses


def test_months_before_clamps_to_the_end_of_a_shorter_month():
    moment = timezone.now().replace(year=2026, month=3, day=31)
    assert privacy.months_before(moment, 1).date().isoformat() == "2026-02-28"
    assert privacy.months_before(moment, 15).date().isoformat() == "2024-12-31"


# --- Saying it --------------------------------------------------------------------------------


def test_the_privacy_page_says_what_is_kept_for_how_long_and_whom_to_ask(org, client):
    org.retention_months = 18
    org.reply_to = "hello@spokes.example"
    org.save()
    page = client.get(reverse("feedback:privacy_public") + f"?business={org.slug}")
    assert page.status_code == 200
    assert "18 months" in page.text and "hello@spokes.example" in page.text
    assert client.get(reverse("feedback:privacy_public") + "?business=nope").status_code == 404


def test_survey_emails_and_customer_pages_link_the_privacy_page(world, org, client):
    link = f"/privacy/?business={org.slug}"
    survey_page = client.get(reverse("surveys:page", args=[world["invitation"].token]))
    assert link in survey_page.text
    built = email_build(
        key="x",
        kind="survey_invitation",
        to=EMAIL,
        template="survey-invitation",
        org=org,
        context={
            "org": org,
            "touchpoint": world["touchpoint"],
            "question_count": 1,
            "survey_url": "https://heard.example/s/x/",
            "unsubscribe_url": "https://heard.example/s/x/unsubscribe/",
            "brand_colour": "#1f6f5c",
        },
    )
    assert link in built.body_text and link in built.body_html
