"""The public link /t/<code>/: anyone answers without a login or an invitation; the answer is
stored, routed and counted like an emailed one; hearing back is the customer's choice and
needs their confirmation; strangers' floods are limited or held, never silently dropped."""

import html
import io
import re
from datetime import timedelta

import pytest
import zxingcpp
from django.core import mail
from django.test import Client, TestCase
from django.utils import timezone
from PIL import Image

from accounts.mail import email_send_queued
from accounts.models import OutgoingEmail
from actions import services as action_services
from actions.models import Action
from actions.routing import routing_requests_route
from surveys import public
from surveys.models import Customer, HearBack, Invitation, Response
from tests.factories import make_customer, make_invitation, make_response
from tests.hostile import hostile_strings


def _question_fields(touchpoint) -> dict:
    """The form field name of each question, by text."""
    version = touchpoint.survey.current_version()
    return {q.text: f"q-{q.key}" for q in version.questions.all()}


def _post(client, touchpoint, data=None, *, query="", seconds_ago=30, **extra):
    """Post the public form as a person who spent ``seconds_ago`` on the page."""
    stamp = public.form_stamp(
        touchpoint=touchpoint, now=timezone.now() - timedelta(seconds=seconds_ago)
    )
    body = {"stamp": stamp, **(data or {})}
    with committed():
        return client.post(f"/t/{touchpoint.public_code}/{query}", body, **extra)


def committed():
    """Run what the request registered for after its commit (the response_submitted signal):
    the test's own transaction never commits."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def _a_no(touchpoint, words="The chain fell off on the way home.", **more) -> dict:
    fields = _question_fields(touchpoint)
    return {fields["Was what you needed in stock?"]: "no", "verbatim": words, **more}


def _route():
    return routing_requests_route(now=timezone.now())


def _close_and_tell(action, owner):
    action_services.action_close(
        action=action,
        actor=owner,
        status=Action.Status.DONE,
        resolution="We refitted it.",
        now=timezone.now(),
    )
    action.refresh_from_db()
    return action_services.loop_message_send(
        action=action,
        actor=owner,
        subject="Your chain",
        body="We refitted it for free.",
        now=timezone.now(),
    )


@pytest.fixture
def client():
    return Client()


def test_it_opens_the_survey_logged_out_without_an_invitation_or_a_cookie(client, touchpoint):
    page = client.get(f"/t/{touchpoint.public_code}/")

    assert page.status_code == 200
    assert b"Was what you needed in stock?" in page.content
    assert b"Want to hear what we do about it?" in page.content
    assert not page.cookies, "the public page must set no cookie (the website snippet says so)"
    assert page["Cache-Control"] == "no-store"


def test_it_may_be_framed_by_any_site_while_the_rest_of_heard_may_not(client, touchpoint):
    page = client.get(f"/t/{touchpoint.public_code}/?via=website")
    assert "X-Frame-Options" not in page
    policy = page["Content-Security-Policy"]
    assert "frame-ancestors *" in policy
    assert "script-src 'self' 'nonce-" in policy  # the rest of the policy is unchanged

    other = client.get("/accounts/login/")
    assert other["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in other["Content-Security-Policy"]


def test_it_links_are_long_random_codes_that_a_guess_does_not_find(client, touchpoint):
    assert len(touchpoint.public_code) >= 16
    assert client.get("/t/not-a-real-code/").status_code == 404


def test_it_turns_a_no_into_an_owned_action_with_the_customers_words(
    client, touchpoint, owner, owner_client
):
    posted = _post(client, touchpoint, _a_no(touchpoint), query="?via=qr")
    assert posted.status_code == 302
    assert not posted.cookies

    response = Response.objects.get()
    assert response.channel == Response.Channel.QR
    assert response.submitted_at is not None
    assert response.invitation.status == Invitation.Status.PUBLIC
    assert response.customer.email == ""
    assert _route() == 1

    action = Action.objects.get()
    assert action.owner == owner  # nobody served them: the fallback is an owner
    assert "The chain fell off" in action.words
    inbox = owner_client.get("/inbox/?view=team")
    assert "The chain fell off" in inbox.content.decode()
    assert "A customer" in inbox.content.decode()
    page = owner_client.get(f"/actions/{action.code}/")
    assert page.status_code == 200
    assert "The chain fell off" in page.content.decode()


def test_it_records_the_door_each_answer_came_through(client, touchpoint):
    for query in ["", "?via=qr", "?via=website", "?kiosk=1", "?via=nonsense"]:
        assert _post(client, touchpoint, _a_no(touchpoint), query=query).status_code == 302
    channels = list(Response.objects.order_by("pk").values_list("channel", flat=True))
    assert channels == ["link", "qr", "website", "kiosk", "link"]


def test_it_sends_nothing_but_a_confirmation_until_the_address_is_confirmed(
    client, touchpoint, owner
):
    data = _a_no(touchpoint, name="Jo Bloggs", email="Jo@Example.com")
    assert _post(client, touchpoint, data).status_code == 302
    _route()
    action = Action.objects.get()

    # Only the confirmation has gone to the address, and closing the loop writes to nobody.
    assert list(
        OutgoingEmail.objects.filter(to="jo@example.com").values_list("kind", flat=True)
    ) == ["public-confirm"]
    assert _close_and_tell(action, owner) == []
    assert OutgoingEmail.objects.filter(to="jo@example.com").count() == 1

    email_send_queued(now=timezone.now())
    [confirmation] = [m for m in mail.outbox if m.to == ["jo@example.com"]]
    link = re.search(r"http://testserver(/t/hear-back/[\w-]+/)", confirmation.body).group(1)

    # Opening the link (as a mail scanner does) confirms nothing.
    assert client.get(link).status_code == 200
    assert HearBack.objects.get().confirmed_at is None

    confirmed = client.post(link)
    assert confirmed.status_code == 200
    response = Response.objects.get()
    assert response.customer.email == "jo@example.com"
    assert response.customer.name == "Jo Bloggs"
    welcome = OutgoingEmail.objects.get(kind="public-confirmed")
    assert f"/f/{response.invitation.token}/" in welcome.body_text
    assert client.get(f"/f/{response.invitation.token}/").status_code == 200

    # Now it is an emailed customer's loop: reopen, close again, and the customer is told.
    action_services.action_reopen(
        action=action, actor=owner, reason="Checking again", now=timezone.now()
    )
    action.refresh_from_db()
    told = _close_and_tell(action, owner)
    assert [m.response_id for m in told] == [response.pk]
    assert OutgoingEmail.objects.filter(kind="loop_message", to="jo@example.com").count() == 1


def test_it_files_a_confirmed_answer_under_the_customer_the_business_already_knows(
    client, touchpoint
):
    known = make_customer(touchpoint.org, email="pat@example.com", name="Pat Jones")
    _post(client, touchpoint, _a_no(touchpoint, email="pat@example.com"))
    hear_back = HearBack.objects.get()
    client.post(f"/t/hear-back/{hear_back.token}/")

    response = Response.objects.get()
    assert response.customer == known
    assert response.invitation.customer == known
    assert response.invitation.interaction.customer == known
    assert Customer.objects.filter(org=touchpoint.org, email="pat@example.com").count() == 1


def test_it_sends_one_confirmation_a_day_to_an_address_however_often_it_is_given(
    client, touchpoint
):
    for _ in range(3):
        _post(client, touchpoint, _a_no(touchpoint, email="victim@example.com"))
    assert OutgoingEmail.objects.filter(to="victim@example.com").count() == 1

    # The one link confirms every answer waiting on that address.
    first = HearBack.objects.order_by("pk").first()
    client.post(f"/t/hear-back/{first.token}/")
    assert not HearBack.objects.filter(confirmed_at=None).exists()
    assert Customer.objects.filter(email="victim@example.com").count() == 1
    assert Response.objects.filter(customer__email="victim@example.com").count() == 3


def test_it_refuses_an_expired_confirmation(client, touchpoint):
    _post(client, touchpoint, _a_no(touchpoint, email="late@example.com"))
    HearBack.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    token = HearBack.objects.get().token
    assert client.post(f"/t/hear-back/{token}/").status_code == 410
    assert Response.objects.get().customer.email == ""


def test_it_keeps_an_anonymous_answer_in_the_figures_and_on_the_wall(
    client, touchpoint, owner, owner_client
):
    _post(client, touchpoint, _a_no(touchpoint, "Brakes squeal.", consent="yes"))
    _route()
    action = Action.objects.get()
    action_services.action_close(
        action=action,
        actor=owner,
        status=Action.Status.DONE,
        resolution="Bled the brakes.",
        now=timezone.now(),
    )
    response = Response.objects.get()
    assert response.may_quote

    publish = f"/dashboard/wall/publish/{action.code}/{response.invitation.code}/"
    assert owner_client.get(publish).status_code == 200
    dashboard = owner_client.get("/dashboard/")
    assert dashboard.status_code == 200
    assert "Brakes squeal." in dashboard.content.decode()


def test_it_answers_410_for_a_replaced_link(client, touchpoint, owner_client):
    old = touchpoint.public_code
    assert owner_client.post(f"/surveys/touchpoints/{touchpoint.code}/rotate/").status_code == 302
    touchpoint.refresh_from_db()

    assert touchpoint.public_code != old
    gone = client.get(f"/t/{old}/")
    assert gone.status_code == 410
    assert b"This link has been replaced" in gone.content
    assert _post(client, touchpoint, _a_no(touchpoint), query="").status_code == 302
    assert client.post(f"/t/{old}/", _a_no(touchpoint)).status_code == 410
    assert client.get(f"/t/{touchpoint.public_code}/").status_code == 200


def test_it_only_rotates_for_an_owner_by_post(client, touchpoint, teammate_client, owner_client):
    old = touchpoint.public_code
    owner_client.get(f"/surveys/touchpoints/{touchpoint.code}/rotate/")
    teammate_client.post(f"/surveys/touchpoints/{touchpoint.code}/rotate/")
    touchpoint.refresh_from_db()
    assert touchpoint.public_code == old


def _decode(png: bytes) -> list[str]:
    return [found.text for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def test_it_gives_owners_a_qr_png_that_decodes_to_the_link(touchpoint, owner_client):
    png = owner_client.get(f"/surveys/touchpoints/{touchpoint.code}/qr.png")
    assert png["Content-Type"] == "image/png"
    assert _decode(png.content) == [f"http://testserver/t/{touchpoint.public_code}/?via=qr"]

    svg = owner_client.get(f"/surveys/touchpoints/{touchpoint.code}/qr.svg")
    assert svg["Content-Type"] == "image/svg+xml"
    assert svg.content.startswith(b"<svg")


def test_it_shows_owners_the_link_snippets_and_poster(touchpoint, owner_client):
    page = owner_client.get(f"/surveys/touchpoints/{touchpoint.code}/").content.decode()
    code = touchpoint.public_code
    assert f"http://testserver/t/{code}/" in page
    assert "embed-v1.js" in page and "data-heard-survey" in page
    assert f"/t/{code}/?kiosk=1" in page

    poster = owner_client.get(f"/surveys/touchpoints/{touchpoint.code}/poster/?size=a5")
    assert poster.status_code == 200
    text = poster.content.decode()
    assert touchpoint.org.name in text and f"testserver/t/{code}/" in text
    assert "<svg" in text and "poster-a5" in text


def test_it_has_a_static_snippet_with_nothing_inline(touchpoint):
    snippet = public.website_snippet(touchpoint)
    assert snippet.startswith("<script async src=")
    assert "/static/surveys/embed-v1.js" in snippet
    assert snippet.count("<script") == 1 and "onload" not in snippet and "style=" not in snippet
    assert "style=" not in public.iframe_snippet(touchpoint)


def test_it_limits_200_rapid_posts_from_one_address_and_stores_every_one_it_accepts(
    client, touchpoint
):
    statuses = [_post(client, touchpoint, _a_no(touchpoint)).status_code for _ in range(200)]

    accepted = statuses.count(302)
    assert set(statuses) == {302, 429}
    assert accepted == public.ADDRESS_LIMIT
    assert Response.objects.count() == accepted
    refused = _post(client, touchpoint, _a_no(touchpoint))
    assert int(refused["Retry-After"]) > 0
    assert b"Nothing was saved" in refused.content
    # Another address is not held up by this one.
    assert _post(client, touchpoint, _a_no(touchpoint), REMOTE_ADDR="10.9.8.7").status_code == 302


def test_it_limits_a_touchpoint_flooded_from_many_addresses(client, touchpoint, monkeypatch):
    monkeypatch.setattr(public, "TOUCHPOINT_LIMIT", 5)
    statuses = [
        _post(client, touchpoint, _a_no(touchpoint), REMOTE_ADDR=f"10.0.0.{n}").status_code
        for n in range(1, 9)
    ]
    assert statuses == [302] * 5 + [429] * 3
    assert Response.objects.count() == 5


@pytest.mark.parametrize(
    ("extra", "seconds_ago", "reason"),
    [
        ({public.HONEYPOT: "http://spam.example"}, 30, Response.Held.HONEYPOT),
        ({}, 0, Response.Held.TOO_FAST),
        ({}, 2 * 24 * 3600, Response.Held.STALE_FORM),
    ],
)
def test_it_holds_an_automated_looking_answer_for_review_instead_of_dropping_it(
    client, touchpoint, owner_client, extra, seconds_ago, reason
):
    data = _a_no(touchpoint, "Buy cheap watches", **extra)
    assert _post(client, touchpoint, data, seconds_ago=seconds_ago).status_code == 302

    response = Response.objects.get()
    assert response.held_reason == reason
    assert response.submitted_at is None
    assert _route() == 0 and not Action.objects.exists()
    page = owner_client.get(f"/surveys/touchpoints/{touchpoint.code}/").content.decode()
    assert "Buy cheap watches" in page

    with committed():
        owner_client.post(
            f"/surveys/touchpoints/{touchpoint.code}/held/{response.invitation.code}/release/"
        )
    response.refresh_from_db()
    assert response.submitted_at is not None and response.released_at is not None
    assert _route() == 1 and Action.objects.count() == 1
    page = owner_client.get(f"/surveys/touchpoints/{touchpoint.code}/").content.decode()
    assert "Buy cheap watches" not in page


def test_it_holds_a_forged_or_missing_stamp(client, touchpoint):
    client.post(f"/t/{touchpoint.public_code}/", _a_no(touchpoint))
    client.post(f"/t/{touchpoint.public_code}/", {**_a_no(touchpoint), "stamp": "x:y:z"})
    reasons = set(Response.objects.values_list("held_reason", flat=True))
    assert reasons == {Response.Held.STALE_FORM}
    assert Response.objects.count() == 2


def test_it_holds_answers_past_the_daily_cap_and_tells_the_owners_once_a_day(
    client, touchpoint, owner
):
    touchpoint.public_daily_cap = 3
    touchpoint.save()
    for n in range(6):
        _post(client, touchpoint, _a_no(touchpoint, f"Answer {n}"), REMOTE_ADDR=f"10.1.1.{n}")

    held = Response.objects.filter(held_reason=Response.Held.DAILY_CAP)
    assert Response.objects.filter(held_reason="").count() == 3
    assert held.count() == 3 and not held.filter(submitted_at__isnull=False).exists()
    notices = OutgoingEmail.objects.filter(kind="public-cap")
    assert list(notices.values_list("to", flat=True)) == [owner.user.email]
    assert f"/surveys/touchpoints/{touchpoint.code}/" in notices.get().body_text


def test_it_does_not_route_a_kiosk_answer_twice_when_the_page_is_reloaded(client, touchpoint):
    posted = _post(client, touchpoint, _a_no(touchpoint), query="?kiosk=1")
    thanks = client.get(posted["Location"])
    client.get(posted["Location"])
    assert thanks.status_code == 200
    assert thanks["Cache-Control"] == "no-store"
    assert Response.objects.count() == 1
    assert b"starts again for the next person" in thanks.content
    assert f'url=/t/{touchpoint.public_code}/?kiosk=1"'.encode() in thanks.content


def test_it_makes_the_kiosk_form_forgettable(client, touchpoint):
    page = client.get(f"/t/{touchpoint.public_code}/?kiosk=1").content.decode()
    assert '<form method="post"' in page and 'autocomplete="off"' in page
    assert 'class="public kiosk"' in page
    assert 'autocomplete="name"' not in page and 'autocomplete="email"' not in page


def test_it_says_a_paused_touchpoint_takes_no_answers(client, touchpoint):
    touchpoint.active = False
    touchpoint.save()
    page = client.get(f"/t/{touchpoint.public_code}/")
    assert b"isn't taking answers" in page.content
    _post(client, touchpoint, _a_no(touchpoint))
    assert not Response.objects.exists()


def test_it_keeps_public_answers_off_the_invitations_list(client, touchpoint, owner_client):
    _post(client, touchpoint, _a_no(touchpoint))
    make_response(make_invitation(touchpoint), answers={0: True})
    page = owner_client.get("/surveys/invitations/").content.decode()
    assert page.count("Answered through a public link") <= 1  # the filter's option, no row


def _as_a_browser_sends(text: str) -> str:
    # A lone surrogate can't be put in UTF-8 form data: browsers send U+FFFD in its place.
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


@pytest.mark.parametrize("text", hostile_strings())
def test_it_stores_hostile_text_as_given_and_never_runs_it(client, touchpoint, owner_client, text):
    text = _as_a_browser_sends(text)
    fields = _question_fields(touchpoint)
    data = {fields["Was what you needed in stock?"]: "no", "verbatim": text, "name": text[:150]}
    posted = _post(client, touchpoint, data)

    if posted.status_code == 400:  # only text the database can't hold is refused, and said so
        assert "can't store" in html.unescape(posted.content.decode())
        assert not Response.objects.exists()
        return
    assert posted.status_code == 302
    response = Response.objects.get()
    assert response.verbatim == text
    _route()
    action = Action.objects.get()
    page = owner_client.get(f"/actions/{action.code}/").content.decode()
    assert "<script>alert" not in page and "<img src=x onerror" not in page


@pytest.mark.parametrize("address", hostile_strings("emails_malformed"))
def test_it_refuses_a_malformed_address_and_keeps_what_was_typed(client, touchpoint, address):
    posted = _post(client, touchpoint, _a_no(touchpoint, "Kept words", email=address))
    if posted.status_code == 302:  # a strange but valid address: only a confirmation goes out
        assert OutgoingEmail.objects.filter(kind="public-confirm").count() == 1
        return
    assert posted.status_code == 400
    assert "doesn't look like an email address" in html.unescape(posted.content.decode())
    assert b"Kept words" in posted.content
    assert not Response.objects.exists()


def test_it_lets_an_outsider_see_nothing_of_the_touchpoints_doors(touchpoint, outsider_client):
    base = f"/surveys/touchpoints/{touchpoint.code}"
    for url in [f"{base}/qr.svg", f"{base}/qr.png", f"{base}/poster/"]:
        assert outsider_client.get(url).status_code == 404
    assert outsider_client.post(f"{base}/rotate/").status_code == 404
