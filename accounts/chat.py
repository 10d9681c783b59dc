"""Messages for Slack, Microsoft Teams and Google Chat, built from an event's data.

Each message leads with the customer's words, then says who owns it and by when, and links to
the action. Every piece of text is escaped for the one format it lands in, so a customer's
words can't ping a channel (``<!channel>``, ``<!here>``, ``@everyone``), mention anyone or
carry a link of their own (``<https://evil|click>``, ``[click](https://evil)``): the only links
are Heard's own, in the buttons.

Incoming-webhook URLs must be on the vendor's own hosts (``chat_url_problem``): the URL is the
credential, so Heard only ever posts it to the vendor.
"""

import html
import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from django.utils import dateformat
from django.utils.translation import gettext, gettext_lazy

from .models import OrgEvent, WebhookEndpoint

# Slack sections hold 3,000 characters; Teams and Google Chat show long text badly.
WORDS_LIMIT = 2500
# Words that notify everyone when a chat tool reads them after an @.
_BROADCAST = re.compile(r"@(?=(channel|here|everyone|all)\b)", re.IGNORECASE)
# A WORD JOINER after the @: it looks the same and no longer means anyone.
_JOINER = "\u2060"
_TEAMS_MARKDOWN = re.compile(r"([\\`*_~\[\](){}<>#|!@])")


@dataclass
class Card:
    """What a chat message says, before any format is applied. All text is plain."""

    headline: str
    words: str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)
    link: tuple[str, str] | None = None


def chat_url_problem(kind: str, url: str) -> str:
    """Why ``url`` is not an incoming webhook of the chat tool ``kind`` ('' when it is)."""
    parts = urlsplit(url or "")
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or parts.username or parts.password or parts.port not in (None, 443):
        return gettext("Paste the https:// address the chat tool gave you, as it is.")
    if kind == WebhookEndpoint.Kind.SLACK:
        ok = host == "hooks.slack.com" and parts.path.startswith(("/services/", "/triggers/"))
        return (
            ""
            if ok
            else gettext("A Slack incoming webhook starts https://hooks.slack.com/services/.")
        )
    if kind == WebhookEndpoint.Kind.TEAMS:
        # Office 365 connectors, and Teams workflows (Power Automate / Logic Apps).
        ok = host.endswith((".webhook.office.com", ".logic.azure.com", ".api.powerplatform.com"))
        return (
            ""
            if ok
            else gettext("Use the address Teams gave for its workflow or incoming webhook.")
        )
    if kind == WebhookEndpoint.Kind.GOOGLE_CHAT:
        ok = host == "chat.googleapis.com" and parts.path.startswith("/v1/spaces/")
        return (
            ""
            if ok
            else gettext("A Google Chat webhook starts https://chat.googleapis.com/v1/spaces/.")
        )
    return gettext("Choose Slack, Microsoft Teams or Google Chat.")


def chat_message(endpoint: WebhookEndpoint, event: OrgEvent) -> dict:
    """The JSON body to post to ``endpoint`` (a chat integration) for ``event``."""
    card = event_card(event, endpoint.org)
    render = {
        WebhookEndpoint.Kind.SLACK: slack_message,
        WebhookEndpoint.Kind.TEAMS: teams_message,
        WebhookEndpoint.Kind.GOOGLE_CHAT: google_chat_message,
    }[endpoint.kind]
    return render(card)


# What each event says, to staff (in LANGUAGE_CODE: the sweep activates no other) ----------

_HEADLINES = {
    OrgEvent.Type.RESPONSE_CREATED: gettext_lazy("New feedback"),
    OrgEvent.Type.ACTION_CREATED: gettext_lazy("New action"),
    OrgEvent.Type.ACTION_REASSIGNED: gettext_lazy("Action reassigned"),
    OrgEvent.Type.ACTION_OVERDUE: gettext_lazy("Action overdue"),
    OrgEvent.Type.ACTION_CLOSED: gettext_lazy("Action closed"),
    OrgEvent.Type.LOOP_SENT: gettext_lazy("Customer told what was done"),
    OrgEvent.Type.LOOP_ANSWERED: gettext_lazy("Customer answered “Did this sort it out?”"),
    OrgEvent.Type.CUSTOMER_REPLIED: gettext_lazy("Customer replied"),
    OrgEvent.Type.WALL_PUBLISHED: gettext_lazy("Published on the wall"),
    OrgEvent.Type.WALL_UNPUBLISHED: gettext_lazy("Taken off the wall"),
    OrgEvent.Type.TEST: gettext_lazy("Test message"),
}


def _when(value: str, org) -> str:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return dateformat.format(moment.astimezone(org.tz), "D j M, H:i")


def event_card(event: OrgEvent, org) -> Card:
    data = event.payload or {}
    card = Card(headline=f"{_HEADLINES.get(event.type, event.type)} · {org.name}")
    action = data.get("action") or {}
    subject = action or data.get("response") or data.get("entry") or {}
    card.words = str(
        data.get("text")
        or action.get("words")
        or subject.get("verbatim")
        or subject.get("quote")
        or data.get("message")
        or ""
    )[:WORDS_LIMIT]
    touchpoint = (subject.get("touchpoint") or {}).get("name")
    if touchpoint:
        card.facts.append((gettext("Touchpoint"), touchpoint))
    if action:
        owner = (action.get("owner") or {}).get("name") or gettext("Nobody yet")
        card.facts.append((gettext("Owner"), owner))
        if action.get("status") in ("open", "in_progress", "waiting") and action.get("due_at"):
            card.facts.append((gettext("Due"), _when(action["due_at"], org)))
        if action.get("resolution") and event.type != OrgEvent.Type.ACTION_CREATED:
            card.facts.append((gettext("What we did"), str(action["resolution"])[:WORDS_LIMIT]))
    if data.get("outcome"):
        card.facts.append(
            (gettext("Sorted?"), gettext("Yes") if data["outcome"] == "yes" else gettext("No"))
        )
    if data.get("comment"):
        card.facts.append((gettext("They said"), str(data["comment"])[:WORDS_LIMIT]))
    url = action.get("url") or subject.get("url")
    if url:
        card.link = (gettext("Open the action") if action else gettext("Open in Heard"), url)
    return card


# Formats ------------------------------------------------------------------------------------


def _defuse(text: str) -> str:
    return _BROADCAST.sub("@" + _JOINER, text)


def slack_text(text: str) -> str:
    """Plain text made inert in Slack mrkdwn: Slack reads links, mentions and channel pings
    only inside <…>, and asks for &, < and > to be escaped as entities."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _defuse(escaped)


def slack_message(card: Card) -> dict:
    blocks = []
    if card.words:
        quoted = "\n".join("> " + line for line in slack_text(card.words).splitlines() or [""])
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": quoted}})
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": slack_text(card.headline)}]}
    )
    if card.facts:
        fields = [
            {"type": "mrkdwn", "text": f"*{slack_text(label)}*\n{slack_text(value)}"}
            for label, value in card.facts[:10]
        ]
        blocks.append({"type": "section", "fields": fields})
    if card.link:
        label, url = card.link
        button = {"type": "button", "text": {"type": "plain_text", "text": label}, "url": url}
        blocks.append({"type": "actions", "elements": [button]})
    summary = card.headline + (f": “{card.words[:150]}”" if card.words else "")
    return {
        "text": slack_text(summary),
        "blocks": blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }


def teams_text(text: str) -> str:
    """Plain text made inert in an Adaptive Card TextBlock: its markdown's link, emphasis and
    list characters and the @ of a mention are backslash-escaped."""
    return _defuse(_TEAMS_MARKDOWN.sub(r"\\\1", text))


def teams_message(card: Card) -> dict:
    body = []
    if card.words:
        body.append(
            {"type": "TextBlock", "text": teams_text(card.words), "wrap": True, "size": "Medium"}
        )
    body.append(
        {"type": "TextBlock", "text": teams_text(card.headline), "wrap": True, "isSubtle": True}
    )
    if card.facts:
        facts = [{"title": teams_text(k), "value": teams_text(v)} for k, v in card.facts]
        body.append({"type": "FactSet", "facts": facts})
    content = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if card.link:
        label, url = card.link
        content["actions"] = [{"type": "Action.OpenUrl", "title": label, "url": url}]
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": content}
    return {"type": "message", "attachments": [attachment]}


def google_chat_text(text: str) -> str:
    """Plain text made inert in a card's text: cards read a little HTML, so it is escaped."""
    return _defuse(html.escape(text, quote=True))


def google_chat_message(card: Card) -> dict:
    widgets = []
    if card.words:
        widgets.append({"textParagraph": {"text": f"<i>{google_chat_text(card.words)}</i>"}})
    widgets += [
        {"decoratedText": {"topLabel": google_chat_text(k), "text": google_chat_text(v)}}
        for k, v in card.facts
    ]
    if card.link:
        label, url = card.link
        button = {"text": label, "onClick": {"openLink": {"url": url}}}
        widgets.append({"buttonList": {"buttons": [button]}})
    # No top-level "text": Chat reads <…> links and <users/all> mentions there. The header
    # title is shown as plain text.
    return {
        "cardsV2": [
            {
                "cardId": "heard",
                "card": {
                    "header": {"title": _defuse(card.headline)},
                    "sections": [{"widgets": widgets}],
                },
            }
        ]
    }
