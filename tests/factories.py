"""Plain constructors for test data across apps. Extend with care: every app's tests use them."""

from datetime import timedelta
from itertools import count

from django.utils import timezone

from surveys.models import (
    Answer,
    Customer,
    Interaction,
    Invitation,
    Question,
    Response,
    Survey,
    SurveyVersion,
    Touchpoint,
)

_seq = count(1)

DEFAULT_QUESTIONS = [
    (Question.Kind.YES_NO, "Was what you needed in stock?", {}),
    (Question.Kind.YES_NO, "Did our staff know what they were talking about?", {}),
    (
        Question.Kind.RATING,
        "How quickly were you served?",
        {"low_label": "Slowly", "high_label": "Quickly"},
    ),
    (
        Question.Kind.CHOICE,
        "How did you hear about us?",
        {"choices": ["Friend", "Online", "Passing by"]},
    ),
]


def make_survey(org, name="After your visit", questions=DEFAULT_QUESTIONS) -> Survey:
    survey = Survey.objects.create(org=org, name=name)
    version = SurveyVersion.objects.create(survey=survey, number=1)
    for position, (kind, text, extra) in enumerate(questions):
        Question.objects.create(version=version, position=position, kind=kind, text=text, **extra)
    return survey


def make_touchpoint(org, slug="repair-collected", name="Repair collected", survey=None, **kw):
    if survey is None:
        survey = make_survey(org)
    return Touchpoint.objects.create(org=org, slug=slug, name=name, survey=survey, **kw)


def make_customer(org, email=None, name="Pat Jones") -> Customer:
    email = email or f"customer{next(_seq)}@example.com"
    return Customer.objects.create(org=org, email=email, name=name)


def make_invitation(touchpoint, customer=None, staff=None, occurred_at=None, **kw) -> Invitation:
    org = touchpoint.org
    now = timezone.now()
    occurred_at = occurred_at or now - timedelta(hours=2)
    customer = customer or make_customer(org)
    interaction = Interaction.objects.create(
        org=org, customer=customer, touchpoint=touchpoint, staff=staff, occurred_at=occurred_at
    )
    version = touchpoint.survey.current_version() if touchpoint.survey else None
    defaults = {
        "status": Invitation.Status.SENT,
        "due_at": occurred_at + timedelta(hours=1),
        "sent_at": occurred_at + timedelta(hours=1),
        "expires_at": occurred_at + timedelta(days=30),
        "survey_version": version,
    }
    defaults.update(kw)
    return Invitation.objects.create(
        org=org, interaction=interaction, customer=customer, **defaults
    )


def make_response(
    invitation,
    answers: dict | None = None,
    verbatim: str = "",
    consent: bool = False,
    submitted_at=None,
) -> Response:
    """A submitted response. ``answers`` maps question text (or position) to a value:
    bool for yes/no, int for rating, str for choice or text."""
    version = invitation.survey_version
    response = Response.objects.create(
        org=invitation.org,
        invitation=invitation,
        survey_version=version,
        customer=invitation.customer,
        verbatim=verbatim,
        consent_to_quote=consent,
        submitted_at=submitted_at or timezone.now(),
    )
    questions = list(version.questions.all())
    for ref, value in (answers or {}).items():
        question = (
            questions[ref] if isinstance(ref, int) else next(q for q in questions if q.text == ref)
        )
        answer = Answer(response=response, question=question)
        if question.kind == Question.Kind.YES_NO:
            answer.yes_no = value
        elif question.kind == Question.Kind.RATING:
            answer.rating = value
        elif question.kind == Question.Kind.CHOICE:
            answer.choice = value
        else:
            answer.text = value
        answer.save()
    return response
