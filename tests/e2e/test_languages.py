"""The customer's language in Chromium: an Arabic survey page is right to left on a phone
(mirrored progress, options and buttons, nothing scrolling sideways, no serious axe problem),
a French one is French (README, "Languages")."""

import os

import pytest

from tests.e2e.conftest import GALLERY, fits_width

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Straight from the question library (surveys.library), as an owner adds them.
LIBRARY = [
    ("yes_no", "Was what you needed in stock?", {}),
    ("rating", "How helpful were we?", {"low_label": "Not at all", "high_label": "Very"}),
]


def _invited(org, locale):
    """A customer in ``locale`` whose invitation the send sweep has just emailed."""
    from django.utils import timezone

    from surveys.models import Customer, Invitation
    from surveys.sending import invitations_send_due
    from tests.factories import make_customer, make_invitation, make_survey, make_touchpoint

    now = timezone.now()
    customer = make_customer(org, email=f"nour.{locale}@example.org", name="Nour Haddad")
    Customer.objects.filter(pk=customer.pk).update(locale=locale)
    customer.refresh_from_db()
    touchpoint = make_touchpoint(org, survey=make_survey(org, questions=LIBRARY))
    invitation = make_invitation(
        touchpoint,
        customer=customer,
        status=Invitation.Status.SCHEDULED,
        sent_at=None,
        due_at=now - timezone.timedelta(minutes=5),
        occurred_at=now - timezone.timedelta(hours=1),
    )
    assert invitations_send_due(now=now) == 1
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT
    return invitation


def _box(locator):
    box = locator.bounding_box()
    assert box, f"{locator} is not on the page"
    return box


def test_it_shows_an_arabic_survey_page_right_to_left_on_a_phone(
    new_page, org, axe, shoot, tmp_path
):
    invitation = _invited(org, "ar")
    page = new_page(width=360, height=740)
    page.goto(f"/s/{invitation.token}/")

    html = page.locator("html")
    assert html.get_attribute("lang") == "ar"
    assert html.get_attribute("dir") == "rtl"
    body = page.locator("main").inner_text()
    assert "هل كان ما تحتاجه متوفرًا؟" in body
    assert "ما مدى فائدتنا لك؟" in body
    assert "Was what you needed in stock?" not in body
    assert "Send my answers" not in body
    assert page.get_by_role("button", name="أرسل إجاباتي").is_visible()

    # Mirrored: the first option of each question sits right of the last, the progress bar
    # fills from the right, and the submit button starts at the right edge.
    for question in page.locator("[data-question]").all():
        options = question.locator(".option")
        first, last = _box(options.first), _box(options.last)
        assert first["x"] > last["x"], "the first option should be on the right"
    assert page.locator("[data-progress]").evaluate("e => getComputedStyle(e).direction") == "rtl"
    button = _box(page.get_by_role("button", name="أرسل إجاباتي"))
    form = _box(page.locator("[data-survey]"))
    assert form["x"] + form["width"] - (button["x"] + button["width"]) < 2
    assert button["x"] > form["x"] + 2 or button["width"] >= form["width"] - 4
    assert fits_width(page), "the Arabic page scrolls sideways at 360 px"

    # The script's words come from the page, in Arabic.
    page.locator("[data-question] .option").first.click()
    page.locator(".saved-mark").first.wait_for()
    assert page.locator(".saved-mark").first.inner_text() == "تم الحفظ"
    progress = page.locator("[data-progress-text]").inner_text()
    assert "answered" not in progress and "1" in progress

    axe(page, "the Arabic survey page")
    page.screenshot(path=str(tmp_path / "survey-page-ar.png"), full_page=True)
    shoot(page, "survey-page-ar")
    if os.environ.get("HEARD_UPDATE_SCREENSHOTS"):
        GALLERY.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(GALLERY / "survey-page-ar.png"), full_page=False)
    assert (tmp_path / "survey-page-ar.png").stat().st_size > 10_000


def test_it_shows_a_french_survey_page_in_french(new_page, org, axe, tmp_path):
    invitation = _invited(org, "fr")
    page = new_page(width=360, height=740)
    page.goto(f"/s/{invitation.token}/")

    html = page.locator("html")
    assert html.get_attribute("lang") == "fr"
    assert html.get_attribute("dir") == "ltr"
    body = page.locator("body").inner_text()
    assert "Ce dont vous aviez besoin était-il en stock ?" in body
    assert "Vous avons-nous été utiles ?" in body
    assert "Send my answers" not in body
    assert "Privacy" not in body and "Delete what I told you" not in body
    first, last = (_box(o) for o in (page.locator(".option").first, page.locator(".option").nth(1)))
    assert first["x"] < last["x"]
    assert fits_width(page)
    axe(page, "the French survey page")
    page.screenshot(path=str(tmp_path / "survey-page-fr.png"), full_page=True)


def test_the_privacy_page_and_a_missing_page_follow_the_visitors_language(
    new_page, org, axe, shoot
):
    page = new_page(width=360, height=740)
    page.goto(f"/privacy/?business={org.slug}&lang=ar")
    html = page.locator("html")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == ("ar", "rtl")
    assert "ما نحتفظ به" in page.locator("main").inner_text()
    # Right to left: the heading hugs the right edge of the page.
    heading = _box(page.locator("h1"))
    assert heading["x"] + heading["width"] > 360 - 40
    assert fits_width(page), "the Arabic privacy page scrolls sideways at 360 px"
    axe(page, "the Arabic privacy page")
    shoot(page, "privacy-ar")

    # A link that leads nowhere, opened by a German browser.
    page.context.set_extra_http_headers({"Accept-Language": "de-DE,de;q=0.9"})
    page.goto("/s/this-never-existed/nothing/")
    assert page.locator("html").get_attribute("lang") == "de"
    assert "Seite nicht gefunden" in page.locator("h1").inner_text()
    axe(page, "the German page-not-found page")
