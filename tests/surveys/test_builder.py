import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from surveys.library import LIBRARY
from surveys.models import Question, SurveyVersion
from surveys.services import FIVE_QUESTIONS, question_add, question_move, question_update
from tests.factories import make_invitation, make_response


def fields(text="Were you served quickly?"):
    return {"kind": Question.Kind.YES_NO, "text": text}


def test_the_library_keeps_every_kind_of_business_to_a_short_list():
    for kind in LIBRARY.values():
        assert kind["questions"]
        ids = [q.id for q in kind["questions"]]
        assert len(ids) == len(set(ids))


def test_a_fifth_question_is_fine_and_a_sixth_is_refused_with_the_reason(survey):
    now = timezone.now()
    question_add(survey=survey, fields=fields(), now=now)  # 4 + 1
    with pytest.raises(ValidationError) as caught:
        question_add(survey=survey, fields=fields("Sixth?"), now=now)
    assert caught.value.messages == [FIVE_QUESTIONS]
    assert "Five questions at most" in FIVE_QUESTIONS
    assert survey.current_version().questions.count() == 5


def test_editing_a_survey_nobody_answered_keeps_the_version(survey):
    version = survey.current_version()
    question = version.questions.first()
    question_update(
        survey=survey, key=question.key, fields={"text": "Reworded?"}, now=timezone.now()
    )
    assert SurveyVersion.objects.count() == 1
    assert version.questions.first().text == "Reworded?"


def test_editing_a_survey_with_responses_makes_a_new_version(touchpoint):
    survey = touchpoint.survey
    old = survey.current_version()
    response = make_response(make_invitation(touchpoint), {0: False}, verbatim="Out of stock")
    first = old.questions.first()
    question_update(
        survey=survey, key=first.key, fields={"text": "Had we got it?"}, now=timezone.now()
    )
    new = survey.current_version()
    assert new.number == old.number + 1
    assert [q.key for q in new.questions.all()] == [q.key for q in old.questions.all()]
    assert new.questions.first().text == "Had we got it?"
    # The old response keeps the question it answered.
    assert response.answers.get().question.text == "Was what you needed in stock?"
    assert response.survey_version == old
    # A second edit changes the new version in place: nobody has answered it yet.
    question_move(survey=survey, key=first.key, offset=1, now=timezone.now())
    assert survey.versions.count() == 2
    assert list(new.questions.values_list("key", flat=True))[1] == first.key
