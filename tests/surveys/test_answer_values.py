"""How an answer's stored value is read and written: the one set of rules on ``Answer``."""

import pytest
from django.core.exceptions import ValidationError

from surveys.models import Answer, Question
from tests.factories import make_invitation, make_response


def _question(kind, **extra):
    return Question(kind=kind, text="?", **extra)


YES_NO = _question(Question.Kind.YES_NO)
RATING = _question(Question.Kind.RATING)
CHOICE = _question(Question.Kind.CHOICE, choices=["Friend", "Online"])
TEXT = _question(Question.Kind.TEXT)


@pytest.mark.parametrize(
    ("question", "raw"),
    [(YES_NO, "yes"), (YES_NO, "no"), (RATING, "1"), (RATING, "5"), (CHOICE, "Online")],
)
def test_it_reads_back_every_one_click_value_it_accepts(question, raw):
    answer = Answer(question=question, **Answer.fields_for(question, raw))

    assert answer.value == raw
    assert raw in {value for _label, value in question.one_click_options()}


def test_it_keeps_free_text_exactly_as_typed():
    fields = Answer.fields_for(TEXT, "  Two spaces either side  ")

    assert fields == {
        "yes_no": None,
        "rating": None,
        "choice": "",
        "text": "  Two spaces either side  ",
    }
    assert Answer(question=TEXT, **fields).value == "  Two spaces either side  "


@pytest.mark.parametrize(
    ("question", "raw", "message"),
    [
        (YES_NO, "maybe", "Choose yes or no."),
        (RATING, "6", "Choose a number from 1 to 5."),
        (RATING, "0", "Choose a number from 1 to 5."),
        (CHOICE, "Radio", "Choose one of the options."),
    ],
)
def test_it_refuses_a_value_the_question_does_not_offer(question, raw, message):
    with pytest.raises(ValidationError) as caught:
        Answer.fields_for(question, raw)

    assert caught.value.messages == [message]


def test_it_labels_rows_and_instances_alike():
    assert Answer.label_of(yes_no=False, rating=None, choice="") == "No"
    assert Answer.label_of(yes_no=None, rating=4, choice="") == "4"
    assert Answer.label_of(yes_no=None, rating=None, choice="Online") == "Online"
    assert Answer(question=RATING, rating=4).display_value == "4 of 5"
    assert Answer(question=TEXT, text="Slow").display_value == "Slow"


def test_it_answers_the_routing_rules_questions():
    assert Answer(question=YES_NO, yes_no=False).is_no
    assert not Answer(question=YES_NO, yes_no=True).is_no
    assert Answer(question=RATING, rating=3).rating_at_most(3)
    assert not Answer(question=RATING, rating=4).rating_at_most(3)
    assert not Answer(question=YES_NO, yes_no=False).rating_at_most(5)
    assert Answer(question=CHOICE, choice="Online").choice_is("  online ")
    assert not Answer(question=CHOICE, choice="").choice_is("  ")


def test_it_finds_the_same_negative_answers_in_sql_as_in_python(touchpoint):
    values = [(False, 2, "Friend"), (True, 3, "Online"), (True, 1, "Online"), (None, None, None)]
    for yes_no, rating, choice in values:
        answers = {0: yes_no, 2: rating, 3: choice}
        make_response(
            make_invitation(touchpoint),
            answers={k: v for k, v in answers.items() if v is not None},
        )
    answers = list(Answer.objects.all())

    in_python = {a.pk for a in answers if a.is_negative}
    assert set(Answer.objects.negative().values_list("pk", flat=True)) == in_python
    assert len(in_python) == 3  # the No, the 2 and the 1
