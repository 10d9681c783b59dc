"""The whole loop in a real browser, as each of its four people goes through it.

One story in four chapters: the owner sets up a repair shop, a customer answers the survey a
real Celery worker emailed them, a member of staff closes the loop, and a visitor reads the
public wall. Each test runs the chapters before its own (in the browser, without screenshots
or accessibility checks) so that it passes on its own; the database is flushed between tests
because the live server and the worker thread must see committed rows.
"""

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import OperationalError, connection
from playwright.sync_api import expect

from tests.e2e.conftest import fits_width

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 360, "height": 740}
TZ = "Europe/London"
OWNER = {
    "name": "Rosa Brennan",
    "email": "rosa@brennan-cycles.example",
    "password": "a-Long-walk-2026",
}
STAFF = {
    "name": "Tomasz Nowak",
    "email": "tomasz@brennan-cycles.example",
    "password": "Spoke-wrench-77",
}
BUSINESS = "Brennan Cycles"
CUSTOMER = {"first": "Maya", "surname": "Featherstonehaugh", "email": "maya.f@example.net"}
COMMENT = "The bike wasn't ready on Friday as promised and nobody rang me. I took a taxi to work."
WHAT_WE_DID = (
    "We now text every customer the moment a repair slips, and Tomasz called Maya to apologise."
)
EMAIL_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def wait_for(check, what: str, timeout: float = 20.0):
    """Poll ``check`` until it returns something truthy; fail saying ``what`` never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if result := check():
                return result
        except OperationalError as exc:
            # SQLite's shared in-memory test database locks whole tables while the worker
            # thread writes ("database table is locked"); PostgreSQL never gets here.
            if connection.vendor != "sqlite":
                raise
            if "locked" not in str(exc):
                raise
        time.sleep(0.1)
    pytest.fail(f"Timed out after {timeout:.0f} s waiting for {what}")


def outbox_drained() -> bool:
    """True once the worker has sent (or given up on) every queued email: its last write is
    done, so the next page view doesn't race it."""
    from accounts.models import OutgoingEmail

    return not OutgoingEmail.objects.queued().exists()


def email_to(address: str, subject_has: str = ""):
    """The newest email in the locmem outbox to ``address`` (the worker thread shares it)."""
    for message in reversed(mail.outbox):
        if address in message.to and subject_has.lower() in message.subject.lower():
            return message
    return None


def emails_to(address: str) -> list:
    return [message for message in mail.outbox if address in message.to]


def link_in(message, path_prefix: str, contains: str = "") -> str:
    """The path (and query) of the first link in the email's text that starts with the
    prefix; SITE_URL is the live server's address, so it opens in the browser as-is."""
    for url in re.findall(r"https?://\S+", message.body):
        parts = urlsplit(url)
        if parts.path.startswith(path_prefix) and contains in url:
            return parts.path + (f"?{parts.query}" if parts.query else "")
    pytest.fail(f"No {path_prefix} link in the email {message.subject!r}:\n{message.body}")


@dataclass
class Story:
    """What the chapters hand on to each other, and the fixtures they work with."""

    new_page: object
    shoot: object
    axe: object
    api: object
    token: str = ""
    status_path: str = ""
    action_path: str = ""
    chapter: int = 0  # the test's own chapter: it alone takes screenshots and runs axe

    def shot(self, chapter: int, page, name: str, gallery: bool = False):
        if chapter == self.chapter:
            self.shoot(page, name, gallery=gallery)

    def check_a11y(self, chapter: int, page, label: str):
        if chapter == self.chapter:
            self.axe(page, label)

    def run(self, upto: int):
        self.chapter = upto
        chapters = [owner_sets_up, customer_answers, staff_closes_the_loop, public_reads_wall]
        for number, chapter in enumerate(chapters[:upto], start=1):
            started = time.monotonic()
            chapter(self, number)
            print(f"chapter {number} ({chapter.__name__}): {time.monotonic() - started:.1f} s")


def submit(page, control):
    """Click a button or link that loads another page, and wait for that page: waiting for
    the load state alone can return before the old page has gone."""
    with page.expect_navigation():
        control.click()


def log_in(page, who: dict):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(who["email"])
    page.get_by_label("Password").fill(who["password"])
    submit(page, page.get_by_role("button", name="Log in"))
    assert "/accounts/login/" not in page.url, f"{who['email']} could not log in"


def quiet_hours_far_from_now() -> tuple[str, str]:
    """A one-minute quiet window twelve hours away, so "now" is never in it, whenever CI runs."""
    far = datetime.now(ZoneInfo(TZ)) + timedelta(hours=12)
    return far.strftime("%H:%M"), (far + timedelta(minutes=1)).strftime("%H:%M")


# --- Chapter 1: the owner -----------------------------------------------------------------------


def owner_sets_up(story: Story, n: int):
    from accounts.tasks import send_queued_emails

    page = story.new_page()
    page.goto("/accounts/signup/")
    page.get_by_label("Your name").fill(OWNER["name"])
    page.get_by_label("Business name").fill(BUSINESS)
    page.get_by_label("Time zone").select_option(TZ)
    page.get_by_label("Email").fill(OWNER["email"])
    page.get_by_label("Password", exact=True).fill(OWNER["password"])
    page.get_by_label("Password (again)").fill(OWNER["password"])
    story.shot(n, page, "signup")
    story.check_a11y(n, page, "the sign-up page")
    page.get_by_role("button", name="Create my business").click()
    # The address is confirmed before anything else: the link comes by email, and pressing
    # its button (a GET confirms nothing) logs the new owner in to the settings.
    send_queued_emails.delay()
    message = wait_for(lambda: email_to(OWNER["email"]), "the email confirming the address")
    page.goto(link_in(message, "/accounts/confirm-email/"))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/settings/")

    # Working hours, quiet hours that don't hold the survey back, and the public wall.
    page.get_by_label("Sat").check()
    page.get_by_label("Work starts").fill("08:30")
    page.get_by_label("Work ends").fill("17:30")
    quiet_starts, quiet_ends = quiet_hours_far_from_now()
    page.get_by_label("Quiet hours start").fill(quiet_starts)
    page.get_by_label("Quiet hours end").fill(quiet_ends)
    page.get_by_label("Publish a public “you said, we did” wall").check()
    submit(page, page.get_by_role("button", name="Save settings"))
    assert page.get_by_label("Work starts").input_value() == "08:30"
    assert page.get_by_label("Sat").is_checked()
    story.shot(n, page, "settings")
    story.check_a11y(n, page, "the settings page")

    # A survey built from the repair shop's templates.
    page.goto("/surveys/new/")
    page.get_by_label("Name").fill("After your repair")
    page.get_by_label("Start from questions for").select_option(label="Repair or service")
    page.get_by_role("button", name="Create survey").click()
    page.wait_for_url(re.compile(r"/surveys/[0-9a-f-]{36}/$"))
    questions = page.locator(".question-list > li")
    assert questions.count() >= 3, "the template gave the survey no questions"
    assert "Was it ready when we said it would be?" in questions.first.inner_text()
    story.shot(n, page, "survey-builder")
    story.check_a11y(n, page, "the survey builder")

    # A touchpoint that sends that survey at once.
    page.goto("/surveys/touchpoints/new/")
    page.get_by_label("Name").fill("Repair collected")
    page.get_by_label("Slug (used by the API)").fill("repair-collected")
    page.get_by_role("combobox", name="Survey").select_option(label="After your repair")
    page.get_by_label("Send after (minutes)").fill("0")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/surveys/")
    expect(page.get_by_role("link", name="Repair collected")).to_be_visible()
    story.shot(n, page, "surveys")
    story.check_a11y(n, page, "the surveys page")

    # An API token, shown once.
    page.goto("/settings/tokens/")
    page.get_by_label("Token name").fill("Till integration")
    submit(page, page.get_by_role("button", name="Create token"))
    story.token = page.locator("#token-secret").inner_text().strip()
    assert len(story.token) >= 20, f"no token shown: {story.token!r}"
    story.shot(n, page, "token")
    story.check_a11y(n, page, "the API tokens page")
    page.goto("/settings/tokens/")
    assert page.locator("#token-secret").count() == 0, "the token is shown more than once"

    # A member of staff, invited by email; the worker sends the queued invitation.
    page.goto("/settings/members/")
    page.get_by_label("Email address").fill(STAFF["email"])
    page.get_by_label("Name (optional)").fill(STAFF["name"])
    submit(page, page.get_by_role("button", name="Send invitation"))
    expect(page.get_by_text(STAFF["email"]).first).to_be_visible()
    story.shot(n, page, "members")
    story.check_a11y(n, page, "the members page")
    send_queued_emails.delay()
    invite = wait_for(lambda: email_to(STAFF["email"]), "the worker to send the staff invitation")
    wait_for(outbox_drained, "the worker to finish sending the queued emails")
    assert BUSINESS in invite.body

    staff = story.new_page()
    staff.goto(link_in(invite, "/join/"))
    assert staff.get_by_label("Your name").input_value() == STAFF["name"]
    staff.get_by_label("Password", exact=True).fill(STAFF["password"])
    staff.get_by_label("Password (again)").fill(STAFF["password"])
    story.shot(n, staff, "join")
    story.check_a11y(n, staff, "the join page")
    submit(staff, staff.get_by_role("button", name=f"Join {BUSINESS}"))
    assert "/join/" not in staff.url, staff.locator("main").inner_text()
    expect(staff.get_by_text(f"Welcome to {BUSINESS}")).to_be_visible()
    staff.context.close()


# --- Chapter 2: the customer --------------------------------------------------------------------


def customer_answers(story: Story, n: int):
    from actions.models import Action
    from actions.tasks import route_responses
    from surveys.models import Invitation
    from surveys.tasks import send_due_invitations

    reply = story.api.post(
        "/api/v1/interactions",
        headers={"Authorization": f"Bearer {story.token}"},
        data={
            "customer": {
                "email": CUSTOMER["email"],
                "name": f"{CUSTOMER['first']} {CUSTOMER['surname']}",
            },
            "touchpoint": "repair-collected",
            "staff": STAFF["email"],
            "reference": "till-4711",
        },
    )
    assert reply.status == 201, reply.text()
    recorded = json.loads(reply.text())["interaction"]
    assert recorded["touchpoint"] == "repair-collected"
    # Due at once: no delay, and the quiet hours are twelve hours away.
    due = datetime.fromisoformat(recorded["invitation"]["due_at"])
    assert due <= datetime.now(UTC) + timedelta(seconds=5), recorded

    # What beat would do every minute: the real worker sends the due invitation.
    send_due_invitations.delay()
    invitation = wait_for(lambda: email_to(CUSTOMER["email"]), "the worker to send the survey")
    assert invitation.body.startswith(f"Hello {CUSTOMER['first']},")
    assert f"Thank you for choosing {BUSINESS} (repair collected, with Tomasz)." in invitation.body
    assert "Was it ready when we said it would be?" in invitation.body
    wait_for(
        lambda: Invitation.objects.filter(status=Invitation.Status.SENT).exists(),
        "the worker to record the invitation as sent",
    )

    page = story.new_page(**PHONE)
    if story.chapter == n:
        # The email as the customer's phone shows it, for the gallery.
        html = next(body for body, kind in invitation.alternatives if kind == "text/html")
        page.set_content(html)
        story.shot(n, page, "survey-email", gallery=True)

    # One click on "No" in the email opens the survey with that answer chosen; the customer's
    # press on the button saves it (mail scanners open links and run scripts too).
    page.goto(link_in(invitation, "/s/", contains="&a=no"))
    story.check_a11y(n, page, "the survey page")
    assert fits_width(page), "the survey page scrolls sideways on a 360 px phone"
    story.shot(n, page, "survey-page", gallery=True)
    page.get_by_role("button", name="Save my answer").click()
    page.wait_for_url("**/?saved=1")
    expect(page.get_by_text("Saved your answer")).to_be_visible()

    questions = page.locator("fieldset.question")
    first = questions.first
    assert first.get_by_label("No").is_checked(), "the one-click answer isn't shown as chosen"
    for index in range(1, questions.count()):
        question = questions.nth(index)
        options = question.locator("input[type=radio]")
        if options.count():
            # "Yes" to the yes/no questions, 4 out of 5 for a rating.
            wanted = "Yes" if question.get_by_label("Yes").count() else "4"
            question.get_by_label(wanted, exact=True).check()
    page.get_by_label("Anything we could do better?").fill(COMMENT)
    page.get_by_label("You may quote my words publicly").check()
    story.shot(n, page, "survey-filled")
    # The emailed answer is saved already, so the button offers to update the answers.
    page.get_by_role("button", name="Update my answers").click()
    page.wait_for_url("**/thanks/")
    expect(page.get_by_role("heading", name=f"Thank you, {CUSTOMER['first']}.")).to_be_visible()
    assert fits_width(page)
    story.shot(n, page, "thanks", gallery=True)
    story.check_a11y(n, page, "the thank-you page")

    # What beat would do every five seconds: the worker routes the response to an action.
    route_responses.delay()
    wait_for(
        lambda: Action.objects.filter(owner__user__email=STAFF["email"]).exists(),
        "the worker to route the response to the staff member who served the customer",
    )

    page.get_by_role("link", name="Follow what happens to my feedback").click()
    page.wait_for_url(re.compile(r"/f/[^/]+/$"))
    story.status_path = urlsplit(page.url).path
    story.shot(n, page, "status-open")
    story.check_a11y(n, page, "the status page")
    expect(page.get_by_text(COMMENT)).to_be_visible()
    expect(
        page.get_by_text(f"With {STAFF['name'].split()[0]}"),
        "the status page should say who has the customer's feedback",
    ).to_be_visible()
    assert fits_width(page)


# --- Chapter 3: the staff member ---------------------------------------------------------------


def staff_closes_the_loop(story: Story, n: int):
    from accounts.tasks import send_queued_emails

    page = story.new_page()
    log_in(page, STAFF)
    page.goto("/inbox/")
    row = page.locator(".inbox-row").filter(has_text="The bike wasn't ready on Friday")
    assert row.count() == 1, page.locator("main").inner_text()
    assert f"{CUSTOMER['first']} {CUSTOMER['surname'][0]}" in row.inner_text()
    story.check_a11y(n, page, "the inbox")
    story.shot(n, page, "inbox", gallery=True)

    row.locator("a.inbox-words").click()
    page.wait_for_url(re.compile(r"/actions/[0-9a-f-]{36}/$"))
    story.action_path = urlsplit(page.url).path
    assert page.locator("blockquote.verbatim").first.inner_text() == COMMENT
    page.get_by_label("Note").fill("Rang Maya; the part arrived late from the supplier.")
    submit(page, page.get_by_role("button", name="Add note"))
    expect(page.get_by_text("the part arrived late from the supplier")).to_be_visible()
    story.check_a11y(n, page, "the action page")
    story.shot(n, page, "action", gallery=True)

    if story.chapter == n:
        # Staff work from their phones too.
        phone = story.new_page(**PHONE)
        phone.context.add_cookies(page.context.cookies())
        for path, what in (("/inbox/", "inbox"), (story.action_path, "action")):
            phone.goto(path)
            story.shot(n, phone, f"{what}-phone")
            assert fits_width(phone), f"the {what} page scrolls sideways on a 360 px phone"

    page.locator("summary", has_text="Close").click()
    page.get_by_label("Done").check()
    page.get_by_label("What we did (or why not)").fill(WHAT_WE_DID)
    page.get_by_role("button", name="Close", exact=True).click()
    # Closing leads straight on to telling the customer.
    page.wait_for_url("**/tell/")
    expect(page.get_by_text("Closed. Now tell the customer what you did.")).to_be_visible()
    assert WHAT_WE_DID in page.get_by_label("Message").input_value()
    submit(page, page.get_by_role("button", name="Preview"))
    preview = page.get_by_label("Preview")
    assert f"Hi {CUSTOMER['first']}," in preview.inner_text()
    assert "Did this sort it out?" in preview.inner_text()
    story.shot(n, page, "tell-preview")
    story.check_a11y(n, page, "the loop-closing preview")
    submit(page, page.get_by_role("button", name="Send to 1 customer"))

    before = len(emails_to(CUSTOMER["email"]))
    send_queued_emails.delay()
    wait_for(
        lambda: len(emails_to(CUSTOMER["email"])) > before,
        "the worker to send the loop-closing email",
    )
    wait_for(outbox_drained, "the worker to finish sending the queued emails")
    message = emails_to(CUSTOMER["email"])[-1]
    assert f"Hi {CUSTOMER['first']}," in message.body
    assert "We now text every customer" in message.body
    assert "@" not in message.subject

    customer = story.new_page(**PHONE)
    customer.goto(story.status_path)
    expect(customer.get_by_text("Done", exact=False).first).to_be_visible()
    expect(customer.get_by_role("heading", name="What we did")).to_be_visible()
    expect(customer.get_by_text("We now text every customer")).to_be_visible()
    assert fits_width(customer)
    story.shot(n, customer, "status-done", gallery=True)
    story.check_a11y(n, customer, "the status page, done")

    customer_replies_by_email(story, n, page, message)


CUSTOMER_REPLY = "Thank you, that's kind. The taxi was £18; the bike rides beautifully now."


def customer_replies_by_email(story: Story, n: int, page, loop_email):
    """The customer answers the loop-closing email in their mail client: the reply goes
    through the real SMTP listener, the worker's sweep puts it on the action."""
    import smtplib
    import socket
    from email.message import EmailMessage
    from email.utils import format_datetime, make_msgid

    from accounts.management.commands.inbound_smtp import inbound_controller
    from actions.tasks import apply_inbound_to_actions

    reply_to = loop_email.reply_to[0]
    reply = EmailMessage()
    reply["From"] = f"{CUSTOMER['first']} {CUSTOMER['surname']} <{CUSTOMER['email']}>"
    reply["To"] = reply_to
    reply["Subject"] = f"Re: {loop_email.subject}"
    reply["Date"] = format_datetime(datetime.now(UTC))
    reply["Message-ID"] = make_msgid(domain="example.net")
    if loop_email.extra_headers.get("Message-ID"):
        reply["In-Reply-To"] = loop_email.extra_headers["Message-ID"]
    quoted = "\n".join(f"> {line}" for line in loop_email.body.splitlines())
    when = datetime.now(ZoneInfo(TZ)).strftime("%a, %-d %b %Y at %H:%M")
    reply.set_content(f"{CUSTOMER_REPLY}\n\nMaya\n\nOn {when}, {BUSINESS} wrote:\n{quoted}\n")

    # A port the operating system says is free, so parallel runs never collide (aiosmtpd's
    # controller checks it is up by connecting to the port it was given, so not 0).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = inbound_controller(host="127.0.0.1", port=port)
    controller.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(reply, from_addr=CUSTOMER["email"], to_addrs=[reply_to])
    finally:
        controller.stop()

    apply_inbound_to_actions.delay()

    def reply_on_the_action():
        page.goto(story.action_path)
        return page.locator("figure.customer-reply").count() == 1

    wait_for(reply_on_the_action, "the worker to put the customer's reply on the action")
    words = page.locator("figure.customer-reply blockquote").inner_text()
    # Their new words only: the quoted loop email stays out.
    assert words.startswith(CUSTOMER_REPLY) and "We now text" not in words, words
    expect(page.get_by_text("Replied by email")).to_be_visible()
    story.shot(n, page, "customer-reply")


# --- Chapter 4: the public ----------------------------------------------------------------------


def public_reads_wall(story: Story, n: int):
    owner = story.new_page()
    log_in(owner, OWNER)
    owner.goto("/dashboard/wall/")
    candidate = owner.locator("article.candidate").filter(has_text="The bike wasn't ready")
    assert candidate.count() == 1, owner.locator("main").inner_text()
    submit(owner, candidate.get_by_role("link", name="Publish…"))
    story.shot(n, owner, "publish")
    story.check_a11y(n, owner, "the publish page")
    owner.get_by_role("button", name="Publish").click()
    owner.wait_for_url("**/dashboard/wall/")
    live = owner.locator("section", has=owner.get_by_role("heading", name="On the wall now"))
    assert "The bike wasn't ready" in live.inner_text()
    story.shot(n, owner, "wall-manage")
    story.check_a11y(n, owner, "the wall manager")
    owner.goto("/dashboard/")
    story.shot(n, owner, "dashboard", gallery=True)
    story.check_a11y(n, owner, "the dashboard")
    slug = owner.evaluate("document.querySelector('a[href^=\"/wall/\"]')?.pathname || ''")

    visitor = story.new_page(**PHONE)
    visitor.goto(slug or "/wall/brennan-cycles/")
    expect(visitor.get_by_role("heading", name="You said, we did")).to_be_visible()
    entry = visitor.locator(".wall-entries")
    assert "The bike wasn't ready on Friday" in entry.inner_text()
    assert "We now text every customer" in entry.inner_text()
    assert f"{CUSTOMER['first']} {CUSTOMER['surname'][0]}." in entry.inner_text()
    promise = visitor.locator(".wall-figures .promise")
    assert "Promises kept on time" in promise.inner_text()
    assert "100%" in promise.inner_text(), promise.inner_text()
    assert "first deadline" in promise.inner_text(), promise.inner_text()
    figures = visitor.locator(".wall-figures").inner_text()
    assert "Confirmed fixed by the customer" in figures, figures
    html = visitor.content()
    assert not EMAIL_ADDRESS.search(html), EMAIL_ADDRESS.search(html).group(0)
    assert CUSTOMER["surname"] not in html
    assert fits_width(visitor), "the wall scrolls sideways on a 360 px phone"
    story.check_a11y(n, visitor, "the wall")
    story.shot(n, visitor, "wall-phone")

    if story.chapter == n:
        wide = story.new_page()
        wide.goto(visitor.url)
        story.shot(n, wide, "wall", gallery=True)


# --- The four journeys --------------------------------------------------------------------------


@pytest.fixture
def story(new_page, shoot, axe, browser, live_server, celery_worker_thread, settings):
    # Links in emails point at the live server, so the browser opens them as a customer would.
    settings.SITE_URL = live_server.url
    api = browser.new_context(base_url=live_server.url)
    yield Story(new_page=new_page, shoot=shoot, axe=axe, api=api.request)
    api.close()


def test_it_lets_an_owner_sign_up_set_up_and_invite_staff(story):
    story.run(upto=1)


def test_it_lets_a_customer_answer_on_a_phone_from_the_email_the_worker_sent(story):
    story.run(upto=2)


def test_it_lets_staff_close_the_loop_and_the_customer_hears_back(story):
    story.run(upto=3)


def test_it_shows_the_published_entry_on_the_public_wall_without_personal_data(story):
    story.run(upto=4)
