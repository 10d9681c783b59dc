from datetime import timedelta

import pytest
from django.template import Context, Template

from actions.durations import duration_words

from .conftest import WEDNESDAY_10AM


@pytest.mark.parametrize(
    ("span", "words"),
    [
        (None, "—"),
        (timedelta(seconds=5), "1 min"),
        (timedelta(minutes=42), "42 min"),
        (timedelta(hours=1), "1 h"),
        (timedelta(hours=2, minutes=30), "2.5 h"),
        (timedelta(hours=24), "24 h"),
        (timedelta(hours=47), "47 h"),
        (timedelta(days=2), "2 days"),
        (timedelta(days=2, hours=12), "2.5 days"),
        (-timedelta(hours=3), "3 h"),
    ],
)
def test_it_puts_a_duration_in_short_words(span, words):
    assert duration_words(span) == words


def test_it_says_how_overdue_an_action_is_in_the_same_words(routed, owner):
    action = routed({0: False}, staff=owner, now=WEDNESDAY_10AM)
    html = Template("{% load actions_tags %}{% overdue_by action now %}").render(
        Context({"action": action, "now": action.due_at + timedelta(days=2, hours=12)})
    )
    assert html == "2.5 days"
