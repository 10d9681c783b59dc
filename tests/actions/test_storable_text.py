"""accounts/text.py: the one set of checks for outside text. (Here rather than in
tests/accounts because the actions, feedback and surveys cleaners were folded into it.)"""

import pytest
from django.core.exceptions import ValidationError

from accounts.text import breaks_lines, is_storable, line_storable, text_storable
from actions.forms import NoteForm
from feedback.services import _text_checked
from surveys.ingest import storable


@pytest.mark.parametrize(
    ("value", "ok"),
    [("Plain", True), ("Zoë 👋\nline two", True), ("nul\x00", False), ("half \ud800", False)],
)
def test_it_answers_whether_text_can_be_stored(value, ok):
    assert is_storable(value) is ok
    assert storable(value) is ok  # surveys' name for the same check


def test_it_repairs_multiline_text_and_never_refuses_it():
    assert text_storable("  two\nlines\x00 ", limit=100) == "two\nlines"
    assert text_storable("broken \ud800 bit", limit=100) == "broken ? bit"
    assert text_storable(None, limit=10) == ""
    assert text_storable("abcdef", limit=3) == "abc"


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\u2028b", "a\u2029b", "a\x00b", "a\x85b"])
def test_it_refuses_a_line_that_is_not_one_header_safe_line(bad):
    assert breaks_lines(bad)
    with pytest.raises(ValidationError, match="Business name must be one line"):
        line_storable(bad, what="Business name")


def test_it_refuses_a_broken_character_in_a_line_and_keeps_good_lines_exactly():
    with pytest.raises(ValidationError, match="broken character"):
        line_storable("Zo\ud800", what="Name")
    assert line_storable(" Zoë ‏Ltd 👋 ", what="Name") == " Zoë ‏Ltd 👋 "


def test_the_wall_refuses_what_actions_repair():
    with pytest.raises(ValidationError, match="cannot be stored"):
        _text_checked("quote\x00", field="quote", max_length=100)
    form = NoteForm({"text": "Called\x00 them."})
    assert form.is_valid() and form.cleaned_data["text"] == "Called them."
