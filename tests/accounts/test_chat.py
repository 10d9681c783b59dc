"""Slack, Teams and Google Chat messages: the customer's words lead, and nothing a customer
writes can ping a channel, mention anyone or carry a link (accounts/chat.py)."""

import json
import re

import pytest
from django.utils import timezone

from accounts.chat import chat_message, chat_url_problem
from accounts.models import OrgEvent, WebhookEndpoint
from tests.hostile import hostile_strings

ATTACKS = ["<!channel>", "<!here>", "<https://evil|click>", "@everyone", "@channel"]
HOSTILE = [*ATTACKS, "[click](https://evil)", "<at>Sam</at>", *hostile_strings("markup")]
VERBATIM = "Too slow <!channel> see <https://evil|click> @everyone [click](https://evil) & more"


def _event(org, words):
    return OrgEvent(
        org=org,
        type="action.created",
        created_at=timezone.now(),
        payload={
            "action": {
                "code": "5f0c",
                "url": "http://testserver/actions/5f0c/",
                "status": "open",
                "words": words,
                "owner": {"name": "Sam <!here>", "email": "sam@alpha.example"},
                "due_at": "2026-05-14T16:00:00Z",
                "touchpoint": {"code": "t", "slug": "repair", "name": "Repair collected"},
            }
        },
    )


def _message(org, kind, words):
    endpoint = WebhookEndpoint(org=org, kind=kind, url="https://example.invalid")
    return chat_message(endpoint, _event(org, words))


def _texts(message) -> str:
    return json.dumps(message, ensure_ascii=False)


def test_it_builds_an_inert_slack_message_from_a_hostile_verbatim(org):
    message = _message(org, "slack", VERBATIM)
    first = message["blocks"][0]["text"]
    assert first["type"] == "mrkdwn"
    assert first["text"].startswith("> Too slow &lt;!channel&gt;")
    assert "&lt;https://evil|click&gt;" in first["text"]
    assert "@\u2060everyone" in first["text"]
    body = _texts(message)
    for raw in ("<!channel>", "<!here>", "<https://evil", "@everyone"):
        assert raw not in body
    # Heard's own link is the only one, in the button.
    button = message["blocks"][-1]["elements"][0]
    assert button["url"] == "http://testserver/actions/5f0c/"
    assert message["unfurl_links"] is False


def test_the_slack_message_says_who_owns_it_and_by_when(org):
    message = _message(org, "slack", "The brakes still squeak.")
    fields = " ".join(f["text"] for f in message["blocks"][2]["fields"])
    assert "*Owner*\nSam &lt;!here&gt;" in fields
    assert "*Due*\nThu 14 May, 17:00" in fields  # Europe/London, summer time
    assert "Repair collected" in fields


def test_it_builds_an_inert_teams_card(org):
    message = _message(org, "teams", VERBATIM)
    card = message["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard"
    words = card["body"][0]["text"]
    assert "\\[click\\]\\(https://evil\\)" in words
    assert "\\@\u2060everyone" in words and "\\<\\!channel\\>" in words
    assert card["actions"][0]["url"] == "http://testserver/actions/5f0c/"


def test_it_builds_an_inert_google_chat_card(org):
    message = _message(org, "google_chat", VERBATIM)
    assert "text" not in message  # Chat reads links and mentions in the top-level text
    widgets = message["cardsV2"][0]["card"]["sections"][0]["widgets"]
    words = widgets[0]["textParagraph"]["text"]
    assert "&lt;!channel&gt;" in words and "&lt;https://evil|click&gt;" in words
    assert "@\u2060everyone" in words


# What would still mean something in each format if a customer's text got through as it is.
LIVE = {
    "slack": ["<!", "<https:", "<@", "<script", "<at>", "@everyone", "@channel", "@here"],
    "teams": ["[click](", "@everyone", "@channel", "<at>", "](https"],
    "google_chat": ["<!", "<https:", "<users/", "<script", "<at>", "@everyone", "@channel"],
}


@pytest.mark.parametrize("kind", ["slack", "teams", "google_chat"])
@pytest.mark.parametrize("hostile", HOSTILE)
def test_no_hostile_string_survives_as_markup(org, kind, hostile):
    words = _words_of(_message(org, kind, f"Bad service {hostile} really"), kind)
    for live in LIVE[kind]:
        assert live not in words, (live, words)
    if kind == "teams":
        # Every markdown character the customer typed is escaped.
        assert re.search(r"(?<!\\)[\[\]()<>]", words) is None, words


def _words_of(message: dict, kind: str) -> str:
    if kind == "slack":
        return message["blocks"][0]["text"]["text"] + message["text"]
    if kind == "teams":
        return message["attachments"][0]["content"]["body"][0]["text"]
    widgets = message["cardsV2"][0]["card"]["sections"][0]["widgets"]
    return widgets[0]["textParagraph"]["text"].removeprefix("<i>").removesuffix("</i>")


@pytest.mark.parametrize(
    ("kind", "url", "ok"),
    [
        ("slack", "https://hooks.slack.com/services/T0/B0/xyz", True),
        ("slack", "https://hooks.slack.com.evil.example/services/T0", False),
        ("slack", "http://hooks.slack.com/services/T0/B0/xyz", False),
        ("slack", "https://user:pw@hooks.slack.com/services/T0", False),
        ("teams", "https://contoso.webhook.office.com/webhookb2/abc", True),
        ("teams", "https://prod-12.westus.logic.azure.com/workflows/abc", True),
        ("teams", "https://webhook.office.com.evil.example/x", False),
        ("google_chat", "https://chat.googleapis.com/v1/spaces/AAA/messages?key=k", True),
        ("google_chat", "https://chat.googleapis.com:8443/v1/spaces/AAA", False),
        ("google_chat", "https://127.0.0.1/v1/spaces/AAA", False),
    ],
)
def test_chat_urls_must_be_on_the_vendors_host(kind, url, ok):
    assert (chat_url_problem(kind, url) == "") is ok
