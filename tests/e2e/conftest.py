"""Browser journeys: Debian's Chromium driven by Playwright, against the app served by
pytest-django's live server, with a real Celery worker consuming from the configured broker
(Redis in CI, Kombu's in-memory broker on a laptop)."""

import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parent.parent.parent
SHOTS = ROOT / "var" / "screenshots"
GALLERY = ROOT / "docs" / "screenshots"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
# browser steps are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, live_server):
    """Open a page in a fresh context: ``new_page(width=360)`` for a phone."""
    contexts = []

    def open_page(width=1280, height=900, **kwargs):
        context = browser.new_context(
            viewport={"width": width, "height": height}, base_url=live_server.url, **kwargs
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def shoot(request):
    """Save a screenshot of a step; ``gallery=True`` also refreshes docs/screenshots/ when
    HEARD_UPDATE_SCREENSHOTS=1."""
    SHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name, gallery=False):
        path = SHOTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if gallery and os.environ.get("HEARD_UPDATE_SCREENSHOTS"):
            GALLERY.mkdir(parents=True, exist_ok=True)
            target = GALLERY / f"{name}.jpg"
            page.screenshot(path=str(target), type="jpeg", quality=55, full_page=False)
        return path

    return take


@pytest.fixture
def axe():
    """Run axe-core in the page; fail on serious or critical violations."""
    if not AXE.exists():
        pytest.fail(
            "axe-core is missing: run `npm ci` (make test does it when Chromium is present)"
        )
    source = AXE.read_text()

    def check(page, label):
        # Evaluated over the DevTools protocol, so the page's CSP (rightly) doesn't block it.
        page.evaluate(source)
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert not bad, f"Accessibility problems on {label}:\n" + "\n".join(bad)

    return check


@pytest.fixture
def celery_worker_thread(transactional_db):
    """A real Celery worker in a thread, consuming from the configured broker."""
    from celery.contrib.testing.worker import start_worker

    from feedback.celery import app

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
        yield worker


def fits_width(page) -> bool:
    """True when nothing makes the page scroll sideways."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def have_chromium() -> bool:
    return Path(CHROMIUM).exists() or shutil.which("chromium") is not None
