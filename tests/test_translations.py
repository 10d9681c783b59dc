"""Every customer-facing string is translated in every shipped language, and every catalogue
compiles (README, "Languages").

The customer-facing strings are extracted afresh from the templates and modules a customer
sees (Django's own ``templatize``, then Babel's Python extractor: nothing needs xgettext), so a
new ``{% translate %}`` without its translations fails here, not in front of a customer."""

import io
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from django.conf import settings
from django.utils.translation.template import templatize

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "locale"

#: What a customer reads: their pages, their emails, the wall and the error pages.
CUSTOMER_TEMPLATES = [
    *(
        f"templates/surveys/{name}.html"
        for name in [
            "customer_base",
            "_language_links",
            "survey_page",
            "thanks",
            "unsubscribe",
            "expired",
            "not_found",
            "too_many",
            "public_base",
            "public_page",
            "public_thanks",
            "public_closed",
            "public_replaced",
            "public_too_many",
            "hear_back",
            "hear_back_expired",
            "delete_confirm",
            "delete_requested",
        ]
    ),
    "templates/actions/status.html",
    "templates/actions/status_expired.html",
    "templates/actions/sorted.html",
    "templates/actions/still_sorted.html",
    # Only its skip link is marked: the rest of base.html is the staff screens' chrome.
    "templates/base.html",
    "templates/feedback/wall.html",
    "templates/feedback/wall_embed.html",
    "templates/feedback/_wall_entry.html",
    "templates/feedback/_wall_figures.html",
    "templates/feedback/privacy_public.html",
    "templates/surveys/poster.html",
    "templates/404.html",
    "templates/403_csrf.html",
    "templates/500.html",
    "templates/503.html",
    *(
        f"templates/emails/{name}-{part}"
        for name in [
            "survey-invitation",
            "survey-reminder",
            "loop-message",
            "late-note",
            "public-confirm",
            "public-confirmed",
            "followup",
            "review-offer",
        ]
        for part in ("subject.txt", "body.txt", "body.html")
    ),
]
#: Python modules that build customer text with gettext.
CUSTOMER_MODULES = [
    "surveys/languages.py",
    "surveys/library.py",
    "surveys/wording.py",
    "feedback/stats.py",
    "feedback/feeds.py",
    "actions/wording.py",
]
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "gettext_lazy": None,
    "gettext_noop": None,
    "pgettext_lazy": ((1, "c"), 2),
    "ngettext_lazy": (1, 2),
}
SHIPPED = [code for code, _name in settings.LANGUAGES if code != "en"]


def _messages(code: str) -> set[tuple[str | None, str]]:
    found = set()
    for _line, message, _comments, context in extract(
        "python", io.BytesIO(code.encode()), keywords=KEYWORDS
    ):
        found.add((context, message[0] if isinstance(message, tuple) else message))
    return found


def customer_messages() -> set[tuple[str | None, str]]:
    """(context, msgid) of every customer-facing string, extracted now."""
    found = set()
    for path in CUSTOMER_TEMPLATES:
        found |= _messages(templatize((ROOT / path).read_text(), origin=path))
    for path in CUSTOMER_MODULES:
        found |= _messages((ROOT / path).read_text())
    return found


def _catalogue(language):
    with (LOCALE / language / "LC_MESSAGES" / "django.po").open("rb") as po:
        return read_po(po, locale=language)


def test_it_finds_customer_strings_to_check():
    # An extraction that found nothing would pass every language vacuously.
    found = {msgid for _context, msgid in customer_messages()}
    assert "Send my answers" in found
    assert "Did this sort it out?" in found
    # The strings that were still English on translated pages: the footer's privacy link,
    # "Delete what I told you", the review box, "Is it still sorted?", the skip link and the
    # words the survey page's script writes (rendered into data- attributes).
    assert {
        "Privacy",
        "Delete what I told you",
        "Yes, delete what I told you",
        "Tell others",
        "Is it still sorted?",
        "Skip to content",
        "Saved",
        "%(answered)s of %(total)s answered",
    } <= found
    assert len(found) > 100


@pytest.mark.parametrize("language", SHIPPED)
def test_it_translates_every_customer_string(language):
    catalogue = _catalogue(language)
    missing = []
    for context, msgid in sorted(customer_messages(), key=lambda m: (m[1], m[0] or "")):
        message = catalogue.get(msgid, context=context)
        strings = message.string if message is not None else ""
        strings = strings if isinstance(strings, tuple) else (strings,)
        if message is None or message.fuzzy or not all(strings):
            missing.append(f"{context + ': ' if context else ''}{msgid}")
    assert not missing, f"{language}: {len(missing)} untranslated:\n" + "\n".join(missing)


@pytest.mark.parametrize("language", SHIPPED)
def test_it_compiles_every_catalogue(language):
    catalogue = _catalogue(language)
    errors = [f"{message.id}: {error}" for message, errors in catalogue.check() for error in errors]
    assert not errors, "\n".join(errors)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    assert compiled.getvalue()
