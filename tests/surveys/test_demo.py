from accounts import demo as accounts_demo
from surveys import demo
from surveys.models import Interaction, Invitation, Response, Survey
from surveys.signals import response_submitted


def test_the_demo_is_idempotent_and_shows_every_kind_of_invitation(db):
    heard = []
    response_submitted.connect(lambda **kw: heard.append(kw), dispatch_uid="demo-test", weak=False)
    try:
        people = accounts_demo.seed()
        touchpoints = demo.seed(people)
        counts = (Interaction.objects.count(), Response.objects.count(), Survey.objects.count())
        again = demo.seed(accounts_demo.seed())
    finally:
        response_submitted.disconnect(dispatch_uid="demo-test")
    assert [t.pk for t in again] == [t.pk for t in touchpoints]
    assert counts == (Interaction.objects.count(), Response.objects.count(), Survey.objects.count())
    assert all(t.survey and t.survey.current_version().questions.count() == 5 for t in touchpoints)
    assert Response.objects.count() == 8
    assert Response.objects.filter(consent_to_quote=True).count() >= 3
    assert Response.objects.filter(answers__yes_no=False).distinct().count() >= 4
    pads = Response.objects.get(verbatim__startswith="The brake pads I came for")
    assert pads.invitation.interaction.staff.user.name == "Sam Okafor"
    statuses = set(Invitation.objects.values_list("status", "skip_reason"))
    assert statuses == {("sent", ""), ("scheduled", ""), ("skipped", "fatigue")}
    assert heard == []  # the actions demo routes these itself
