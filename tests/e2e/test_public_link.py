"""The public link in Chromium: a phone without JavaScript, the website button on another
origin under a strict CSP, the kiosk forgetting the last person, the QR code as drawn, the
printed poster, and strangers' text shown as text."""

import io
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import zxingcpp
from django.utils import timezone
from PIL import Image

from actions.models import Action
from actions.routing import routing_requests_route
from surveys import public, views
from surveys.models import Response
from tests.conftest import client_for
from tests.e2e.conftest import GALLERY, fits_width
from tests.factories import make_survey, make_touchpoint
from tests.hostile import hostile_strings


@pytest.fixture
def door(transactional_db, org, owner, settings, live_server, monkeypatch):
    """A touchpoint whose links name the live server, and no wait before sending: the
    minimum time on the page has its own unit tests."""
    settings.SITE_URL = live_server.url
    monkeypatch.setattr(public, "MIN_SECONDS_ON_PAGE", 0)
    return make_touchpoint(org, slug="counter", name="At the counter", survey=make_survey(org))


def _console_problems(page) -> list[str]:
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def test_it_takes_answers_on_a_360px_phone_without_javascript(door, new_page, shoot):
    page = new_page(width=360, height=740, java_script_enabled=False)
    page.goto(f"/t/{door.public_code}/?via=qr")
    assert fits_width(page)
    page.get_by_role("group", name="Was what you needed in stock?").get_by_text("No").click()
    page.get_by_label("Anything we could do better?").fill("The pump was broken.")
    with page.expect_navigation():
        page.get_by_role("button", name="Send my answers").click()
    assert page.get_by_role("heading", name="Thank you.").is_visible()
    shoot(page, "public-phone-thanks")
    assert not page.context.cookies()

    response = Response.objects.get()
    assert (response.channel, response.verbatim) == ("qr", "The pump was broken.")
    routing_requests_route(now=timezone.now())
    assert Action.objects.get().words == "The pump was broken."


class _HostPage(BaseHTTPRequestHandler):
    """Someone else's website: one page with a strict CSP that includes Heard's snippet."""

    snippet = ""
    heard = ""

    def do_GET(self):
        body = (
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>Spokes shop</title>"
            "</head><body><h1>Spokes shop</h1><p>Our opening hours.</p>"
            f"{self.snippet}</body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header(
            "Content-Security-Policy",
            f"default-src 'none'; script-src {self.heard}; frame-src {self.heard}; "
            "style-src 'none'; img-src 'none'; base-uri 'none'; form-action 'none'",
        )
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def other_site(door, live_server):
    _HostPage.snippet = public.website_snippet(door)
    _HostPage.heard = live_server.url
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_it_works_as_a_button_on_another_sites_page_with_a_strict_csp(
    door, other_site, new_page, live_server, shoot
):
    # Another port is another origin: the frame is cross-origin, as on a real website.
    assert other_site.rstrip("/").rsplit(":", 1)[1] != live_server.url.rsplit(":", 1)[1]
    page = new_page()
    problems = _console_problems(page)
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(other_site)
    button = page.get_by_role("button", name="Tell us how we did")
    button.click()
    frame = page.frame_locator("iframe[title='Tell us how we did']")
    frame.get_by_role("group", name="Was what you needed in stock?").get_by_text("No").click()
    frame.get_by_label("Anything we could do better?").fill("Website says open, door was shut.")
    frame.get_by_role("button", name="Send my answers").click()
    frame.get_by_role("heading", name="Thank you.").wait_for()
    shoot(page, "public-website-frame")

    assert not problems, problems
    assert not page.context.cookies()
    # Nothing but the host page itself and Heard: no third party.
    assert all(url.startswith((other_site, live_server.url)) for url in requests), requests
    response = Response.objects.get()
    assert (response.channel, response.verbatim) == ("website", "Website says open, door was shut.")

    page.get_by_role("button", name="Close").click()
    assert button.is_visible()


def test_it_leaves_nothing_of_the_last_person_on_the_kiosk(door, new_page, monkeypatch):
    monkeypatch.setattr(views, "KIOSK_RESET_SECONDS", 1)
    page = new_page(width=1024, height=768)
    start = f"/t/{door.public_code}/?kiosk=1"
    page.goto(start)
    page.get_by_role("group", name="Was what you needed in stock?").get_by_text("No").click()
    page.get_by_label("Anything we could do better?").fill("My secret complaint")
    page.get_by_label("Your name").fill("Kim Private")
    page.get_by_label("Your email").fill("kim@example.com")
    with page.expect_navigation():
        page.get_by_role("button", name="Send my answers").click()
    assert page.get_by_text("starts again for the next person").is_visible()

    page.wait_for_url(f"**{start}", timeout=10_000)
    page.get_by_role("button", name="Send my answers").wait_for()

    def nothing_left():
        html = page.content()
        assert "My secret complaint" not in html and "Kim Private" not in html
        assert page.get_by_label("Anything we could do better?").input_value() == ""
        assert page.get_by_label("Your name").input_value() == ""
        assert page.get_by_label("Your email").input_value() == ""
        assert not page.locator("input[type=radio]:checked").count()

    nothing_left()
    # Back, however often, finds an empty survey: the thank-you page left the history and the
    # form was never stored (no-store, autocomplete off).
    for _ in range(2):
        page.go_back()
        if page.url.endswith("about:blank") or "/t/" not in page.url:
            break
        nothing_left()
    response = Response.objects.get()
    assert response.channel == "kiosk"
    assert response.customer.email == ""  # not until Kim confirms


def test_it_draws_a_qr_svg_that_a_decoder_reads_as_the_link(door, new_page):
    page = new_page(width=600, height=600)
    page.set_content(
        "<body style='margin:0;background:#fff'>"
        + public.qr_svg(door, scale=8).decode()
        + "</body>"
    )
    png = page.screenshot()
    decoded = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]
    assert decoded == [f"{public.public_url(door)}?via=qr"]


def test_it_prints_a_poster_that_scans(door, owner, new_page, live_server):
    session = client_for(owner).cookies["sessionid"].value
    page = new_page(width=900, height=1300)
    page.context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
    problems = _console_problems(page)
    page.goto(f"/surveys/touchpoints/{door.code}/poster/")
    sheet = page.locator(".sheet")
    assert sheet.get_by_text("How did we do?").is_visible()
    assert sheet.get_by_text(door.org.name).is_visible()
    png = sheet.screenshot()
    decoded = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]
    assert decoded == [f"{public.public_url(door)}?via=qr"]
    assert not problems, problems
    if os.environ.get("HEARD_UPDATE_SCREENSHOTS"):
        GALLERY.mkdir(parents=True, exist_ok=True)
        Image.open(io.BytesIO(png)).convert("RGB").resize((600, 849)).save(
            GALLERY / "qr-poster.png", optimize=True
        )


def test_it_shows_strangers_text_as_text_in_a_real_browser(door, owner, new_page, live_server):
    texts = [t for t in hostile_strings("markup", "unicode") if "\x00" not in t][:12]
    page = new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    for text in texts:
        page.goto(f"/t/{door.public_code}/?via=hostile")
        page.get_by_label("Anything we could do better?").fill(text)
        page.get_by_label("Your name").fill(text[:150])
        page.get_by_role("group", name="Was what you needed in stock?").get_by_text("No").click()
        with page.expect_navigation():
            page.get_by_role("button", name="Send my answers").click()
    routing_requests_route(now=timezone.now())

    session = client_for(owner).cookies["sessionid"].value
    page.context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
    stored = {r.verbatim for r in Response.objects.all()}
    expected = {t.replace("\r\n", "\n") for t in texts}
    assert stored == expected or len(stored) == len(texts)
    for action in Action.objects.all():
        page.goto(f"/actions/{action.code}/")
        words = action.words.strip()
        if words:
            assert page.get_by_text(words.splitlines()[0].strip()[:40]).first.is_visible()
    page.goto("/inbox/?view=team")
    assert not dialogs, dialogs
    assert page.evaluate("window.__pwned === undefined")
