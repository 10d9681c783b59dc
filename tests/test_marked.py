"""Every template is marked for translation: no words a person reads are left outside
``{% translate %}`` and ``{% blocktranslate %}`` (README, "Languages").

The customers' templates are translated in every shipped language (tests/test_translations.py);
the staff and owner screens and their emails are shipped in English, but marked, so that a
catalogue is all a new language needs. This walks each template's tokens with Django's own
lexer: text outside a translation block, and the attributes a person reads (``title``,
``aria-label``, ``placeholder``, ``alt``), must hold no words; nor may a ``default``,
``default_if_none`` or ``yesno`` filter carry an English literal."""

import html
import re
from pathlib import Path

import pytest
from django.template.base import Lexer, TokenType

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted(
    path for pattern in ("*.html", "*.txt") for path in (ROOT / "templates").rglob(pattern)
)
#: A word: two letters or more in any script.
WORD = re.compile(r"[^\W\d_]{2,}")
#: What may stand alone untranslated: the product's name and a few units and formats.
NOT_WORDS = {"Heard", "QR", "CSV", "API", "PNG", "SVG", "JSON", "ID", "UTC", "px", "nbsp"}
OPENERS = {"blocktranslate", "blocktrans"}
CLOSERS = {"endblocktranslate", "endblocktrans"}
HIDDEN = re.compile(r"<(script|style)\b.*?</\1>|<!--.*?-->", re.DOTALL | re.IGNORECASE)
READ_ATTRIBUTE = re.compile(
    r"""\b(?:title|aria-label|placeholder|alt)\s*=\s*(["'])(.*?)\1""", re.DOTALL | re.IGNORECASE
)
TAG = re.compile(r"<[^>]*>", re.DOTALL)
FILTER_LITERAL = re.compile(r"""\|(?:default|default_if_none|yesno):(["'])(.*?)\1""")
#: A link's path and query string in a plain-text email (``/privacy/?business=``) are for
#: machines.
QUERY = re.compile(r"(?:/[\w.-]+)+/?|[?&][\w-]+=[\w-]*")
#: Blocks that hold a CSS class, not words.
CLASS_BLOCK = re.compile(r"\w+_class")
#: Stands in for a variable or a tag, so words either side of one don't run together.
GAP = "\x00"


def _untranslated(source: str) -> list[str]:
    """The words in ``source`` that no translation tag covers."""
    text, literals, depth, hidden = [], [], 0, False
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            bits = token.split_contents()
            name = bits[0]
            if name == "comment" or (name == "block" and CLASS_BLOCK.fullmatch(bits[1])):
                hidden = True
            elif name in {"endcomment", "endblock"}:
                hidden = False
            elif name in OPENERS:
                depth += 1
            elif name in CLOSERS:
                depth -= 1
            text.append(GAP)
        elif token.token_type == TokenType.VAR:
            literals += [m.group(2) for m in FILTER_LITERAL.finditer(token.contents)]
            text.append(GAP)
        elif token.token_type == TokenType.TEXT and not depth and not hidden:
            text.append(token.contents)
        else:
            text.append(GAP)
    visible = HIDDEN.sub(GAP, "".join(text))
    read = [m.group(2) for m in READ_ATTRIBUTE.finditer(visible)]
    plain = QUERY.sub(GAP, html.unescape(TAG.sub(GAP, visible)))
    return [
        word
        for chunk in (plain, *read, *literals)
        for word in WORD.findall(chunk)
        if word not in NOT_WORDS
    ]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_word_in_the_template_is_marked_for_translation(path):
    assert _untranslated(path.read_text()) == []


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("<p>Open actions</p>", ["Open", "actions"]),
        ('<p>{% translate "Open actions" %}</p>', []),
        ("{% blocktranslate %}Hi {{ name }},{% endblocktranslate %}", []),
        ('<a title="Close" href="/">{% translate "x" %}</a>', ["Close"]),
        ('<img alt="" src="/a.png"><input placeholder="{% translate "Name" %}">', []),
        ('{{ x|default:"Nobody" }}', ["Nobody"]),
        ('{{ x|default:_("Nobody") }}', []),
        ("<script>let open = true;</script><style>p { color: red }</style>", []),
        ("{% comment %}Not for people{% endcomment %}<!-- nor this -->", []),
        ("Due {{ due }} · {{ n }} month{{ n|pluralize }}", ["Due", "month"]),
        ("<p>Heard · QR</p>", []),
        ("{% block main_class %}narrow{% endblock main_class %}", []),
        ("Yes: {{ site_url }}/s/x/?answer=yes&from=email", ["Yes"]),
        ("Privacy: {{ site_url }}/privacy/?business={{ org.slug }}", ["Privacy"]),
        ("<p>مرحبا</p>", ["مرحبا"]),
    ],
)
def test_the_check_finds_unmarked_words(source, found):
    # The check itself can fail: words it should see, and markup it should not.
    assert _untranslated(source) == found
