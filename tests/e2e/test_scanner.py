"""Mail security scanners open every link in an email in a headless browser that runs the
page's JavaScript. Nothing they do may answer for the customer: only a person's gesture on the
survey page records an answer (and so opens an action and emails staff)."""

import html
import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HREF = re.compile(r'href="([^"]+)"')


@pytest.fixture
def emailed(settings, live_server, org, owner, teammate):
    """A real invitation email, sent by the send sweep the way beat runs it: its outbox row and
    the invitation. Its links point at the live server."""
    from accounts.models import OutgoingEmail
    from surveys.models import Invitation
    from surveys.tasks import send_due_invitations
    from tests.factories import make_invitation, make_touchpoint

    settings.SITE_URL = live_server.url
    now = timezone.now()
    invitation = make_invitation(
        make_touchpoint(org, default_owner=owner),
        staff=teammate,
        status=Invitation.Status.SCHEDULED,
        due_at=now - timedelta(minutes=1),
        sent_at=None,
        expires_at=now + timedelta(days=30),
        survey_version=None,
    )
    assert send_due_invitations() == 1
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT
    return OutgoingEmail.objects.get(kind="survey-invitation"), invitation


def links_in(outgoing) -> list[str]:
    return [html.unescape(href) for href in HREF.findall(outgoing.body_html)]


def record_posts(page) -> list[str]:
    posts = []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.url))
    return posts


def route_now():
    """What beat does every few seconds: route recorded responses into actions."""
    from actions.tasks import route_responses

    route_responses()


def test_it_records_nothing_when_a_scanner_opens_every_link_of_the_email(new_page, emailed):
    from accounts.models import OutgoingEmail
    from actions.models import Action
    from surveys.models import Answer, Response

    outgoing, invitation = emailed
    links = links_in(outgoing)
    # Yes, No, "Answer all 4 questions", unsubscribe and the privacy page: every one of them
    # gets opened.
    assert len(links) == 5, links
    assert any("&a=no" in link for link in links) and any("/unsubscribe/" in link for link in links)

    page = new_page(width=360, height=740)
    posts = record_posts(page)
    for link in links:
        page.goto(link)
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(2000)
        page.mouse.wheel(0, 20_000)
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        page.wait_for_timeout(300)
        if "&a=no" in link:
            # Shown chosen, waiting for the customer.
            assert page.locator("fieldset.question").first.get_by_label("No").is_checked()
            assert page.get_by_role("button", name="Save my answer").is_visible(), (
                "the emailed answer should wait for the customer's button"
            )
    page.wait_for_timeout(500)

    assert posts == []
    assert not Response.objects.exists()
    assert not Answer.objects.exists()
    route_now()
    assert not Action.objects.exists()
    assert list(OutgoingEmail.objects.values_list("pk", flat=True)) == [outgoing.pk]
    invitation.customer.refresh_from_db()
    assert invitation.customer.opted_out_at is None


def test_it_ignores_a_change_event_a_script_made_up(new_page, emailed):
    from surveys.models import Response

    outgoing, _ = emailed
    page = new_page()
    posts = record_posts(page)
    page.goto(next(link for link in links_in(outgoing) if "&a=no" in link))
    # What a scanner's own script might do to look for hidden behaviour: tick and "change"
    # every option. Not a person, so nothing is posted.
    page.evaluate(
        """() => document.querySelectorAll("[data-survey] input[type=radio]").forEach((input) => {
            input.checked = true;
            input.dispatchEvent(new Event("change", {bubbles: true}));
        })"""
    )
    page.wait_for_timeout(1000)
    assert posts == []
    assert not Response.objects.exists()


def wait_until(check, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    pytest.fail(f"Timed out waiting for {what}")


def test_it_saves_the_answer_a_person_gives_on_the_page(new_page, shoot, axe, emailed, teammate):
    from accounts.models import OutgoingEmail
    from actions.models import Action
    from surveys.models import Answer

    outgoing, invitation = emailed
    page = new_page(width=360, height=740)
    page.goto(next(link for link in links_in(outgoing) if "&a=no" in link))
    shoot(page, "survey-page-chosen")
    axe(page, "the survey page with the emailed answer chosen")

    # The customer presses the button under the answer they chose in the email.
    page.get_by_role("button", name="Save my answer").click()
    page.wait_for_url("**/?saved=1")
    assert page.get_by_role("status").filter(has_text="Saved your answer").is_visible()
    first = Answer.objects.get()
    assert first.yes_no is False and first.response.invitation_id == invitation.pk

    # Then clicks an answer to the next question: saved as given, no button needed.
    second = page.locator("fieldset.question").nth(1)
    second.get_by_label("Yes").check()
    wait_until(lambda: Answer.objects.count() == 2, "the clicked answer to be saved")
    assert Answer.objects.get(question__position=1).yes_no is True
    assert "Saved" in second.locator(".saved-mark").inner_text()

    # The "No" is the customer's own, so it becomes the staff member's action, with an email.
    route_now()
    action = Action.objects.get()
    assert action.owner == teammate
    assert OutgoingEmail.objects.exclude(pk=outgoing.pk).filter(to=teammate.user.email).exists()
