"""The survey page's hand-joined queries (surveys.queries) against the plain ORM queries they
stand for, over the same data."""

import pytest

from surveys import queries
from surveys.models import Answer, Interaction, Invitation
from tests.factories import make_invitation, make_response


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def plain_invitation(token: str) -> Invitation | None:
    """``queries.invitation_for_token`` in plain ORM."""
    return (
        Invitation.objects.select_related("org", "customer", "survey_version", "response")
        .filter(token=token, survey_version__isnull=False)
        .first()
    )


def plain_page_data(invitation: Invitation) -> tuple[list, dict[int, Answer]]:
    """``queries.survey_page_data`` in plain ORM."""
    response = getattr(invitation, "response", None)
    questions = list(invitation.survey_version.questions.order_by("position", "id"))
    answers = {} if response is None else {a.question_id: a for a in response.answers.all()}
    return questions, answers


def plain_interaction(invitation: Invitation) -> Interaction:
    """What ``queries.interaction_load`` loads, in plain ORM."""
    return Interaction.objects.select_related("touchpoint", "staff__user").get(
        pk=invitation.interaction_id
    )


@pytest.fixture
def invitations(touchpoint, teammate):
    answered = make_invitation(touchpoint, staff=teammate)
    make_response(answered, answers={0: False, 2: 4, 3: "Online"}, verbatim="Slow", consent=True)
    return [answered, make_invitation(touchpoint), make_invitation(touchpoint, staff=teammate)]


def test_it_loads_what_the_plain_orm_loads(invitations):
    for invitation in invitations:
        fast, plain = (
            queries.invitation_for_token(invitation.token),
            plain_invitation(invitation.token),
        )
        assert _fields(fast) == _fields(plain)
        for name in ("org", "customer", "survey_version"):
            assert _fields(getattr(fast, name)) == _fields(getattr(plain, name))
        fast_response = getattr(fast, "response", None)
        plain_response = getattr(plain, "response", None)
        assert (fast_response and _fields(fast_response)) == (
            plain_response and _fields(plain_response)
        )

        questions, answers = queries.survey_page_data(fast)
        plain_questions, plain_answers = plain_page_data(plain)
        assert [_fields(q) for q in questions] == [_fields(q) for q in plain_questions]
        assert {k: _fields(a) for k, a in answers.items()} == {
            k: _fields(a) for k, a in plain_answers.items()
        }

        queries.interaction_load(fast)
        interaction = plain_interaction(plain)
        assert _fields(fast.interaction) == _fields(interaction)
        assert _fields(fast.interaction.touchpoint) == _fields(interaction.touchpoint)
        staff, plain_staff = fast.interaction.staff, interaction.staff
        assert (staff and _fields(staff)) == (plain_staff and _fields(plain_staff))
        assert (staff and _fields(staff.user)) == (plain_staff and _fields(plain_staff.user))


def test_it_opens_nothing_the_plain_orm_would_not(touchpoint):
    pending = make_invitation(touchpoint, status="scheduled", sent_at=None, survey_version=None)
    for token in (pending.token, "no-such-token", "x" * 65, ""):
        assert queries.invitation_for_token(token) is None
        assert plain_invitation(token) is None
