"""The wall's Atom feed hands customer words to feed readers as text, never as live HTML."""

import xml.etree.ElementTree as ET
from html import unescape
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from feedback.services import wall_entry_publish
from tests.hostile import hostile_strings

from .helpers import make_done_consented

ATOM = "{http://www.w3.org/2005/Atom}"


class _Elements(HTMLParser):
    """Collects every element a browser-grade HTML parser would build from a string."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)


def elements_in(html: str) -> list[str]:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.tags


@pytest.fixture
def wall_org(org):
    org.wall_enabled = True
    org.save()
    return org


def feed_summaries(client, org) -> list[tuple[str, str]]:
    response = client.get(reverse("feedback:wall_feed", args=[org.slug]))
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    return [
        (summary.get("type", "text"), summary.text or "") for summary in root.iter(f"{ATOM}summary")
    ]


@pytest.mark.parametrize("text", hostile_strings("markup"))
def test_it_hands_feed_readers_customer_markup_as_text(client, wall_org, owner, text):
    action, response = make_done_consented(wall_org, verbatim=text, resolution=text)
    wall_entry_publish(
        action=action,
        response=response,
        quote=text,
        what_we_did=text,
        member=owner,
        now=timezone.now(),
    )
    [(kind, content)] = feed_summaries(client, wall_org)
    # type="html" means a reader renders the decoded content as HTML: it must hold no element.
    if kind == "html":
        assert elements_in(content) == []
    # The customer's words still arrive, as text a reader shows literally.
    assert text in (unescape(content) if kind == "html" else content)


def test_it_keeps_ordinary_words_readable(client, wall_org, owner):
    action, response = make_done_consented(
        wall_org, verbatim="Fish & chips were cold", resolution="We fixed the warmer"
    )
    wall_entry_publish(
        action=action,
        response=response,
        quote=response.verbatim,
        what_we_did=action.resolution,
        member=owner,
        now=timezone.now(),
    )
    [(_, content)] = feed_summaries(client, wall_org)
    assert "Fish" in content and "We fixed the warmer" in content


def test_it_speaks_the_business_default_language_or_the_one_asked_for(client, wall_org, owner):
    action, response = make_done_consented(wall_org, verbatim="Trop froid", resolution="Réparé")
    wall_entry_publish(
        action=action,
        response=response,
        quote=response.verbatim,
        what_we_did=action.resolution,
        member=owner,
        now=timezone.now(),
    )
    wall_org.default_language = "fr"
    wall_org.save()
    url = reverse("feedback:wall_feed", args=[wall_org.slug])
    root = ET.fromstring(client.get(url).content)
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "fr"
    assert root.find(f"{ATOM}title").text == "Vous l’avez dit, nous l’avons fait : Alpha Bikes"
    [summary] = root.iter(f"{ATOM}summary")
    assert "Ce que nous avons fait : Réparé" in unescape(summary.text)
    german = ET.fromstring(client.get(url + "?lang=de").content)
    assert german.find(f"{ATOM}title").text.startswith("Sie haben es gesagt")
