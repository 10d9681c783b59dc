from tests.factories import make_invitation, make_response, make_touchpoint


def test_it_builds_a_submitted_response_with_answers(owner):
    touchpoint = make_touchpoint(owner.org)
    invitation = make_invitation(touchpoint, staff=owner)
    response = make_response(
        invitation, {"Was what you needed in stock?": False, 2: 4}, verbatim="No brake pads."
    )
    answers = {a.question.text: a.display_value for a in response.answers.all()}
    assert answers == {
        "Was what you needed in stock?": "No",
        "How quickly were you served?": "4 of 5",
    }
    assert response.org == owner.org
    assert response.submitted_at is not None
