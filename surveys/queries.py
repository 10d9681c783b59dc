"""Surveys' reads."""

from django.db.models import Count, Prefetch, Q

from .models import Answer, Interaction, Invitation, Survey, SurveyVersion, Touchpoint

TOKEN_MAX = 64


def invitation_for_token(token: str) -> Invitation | None:
    """The invitation a customer's token opens, with everything its pages show, in two queries.

    Only invitations that were sent open a page: a scheduled or skipped one's token was never
    given to anyone.
    """
    if not token or len(token) > TOKEN_MAX:
        return None
    # Two narrow joins, not one wide one: PostgreSQL spends longer planning an eight-table
    # join than running two four-table ones, and this page is the busiest in Heard.
    invitation = (
        Invitation.objects.select_related("org", "customer", "survey_version", "response")
        .filter(token=token, survey_version__isnull=False)
        .first()
    )
    return invitation


def interaction_load(invitation: Invitation) -> None:
    """Load what the survey page says about the visit (touchpoint, who served) in one query;
    only pages that show it pay for it."""
    invitation.interaction = Interaction.objects.select_related("touchpoint", "staff__user").get(
        pk=invitation.interaction_id
    )


def survey_page_data(invitation: Invitation) -> tuple[list, dict[int, Answer]]:
    """The version's questions and the answers saved so far (by question id): two queries."""
    questions = list(invitation.survey_version.questions.all())
    response = getattr(invitation, "response", None)
    answers = {a.question_id: a for a in response.answers.all()} if response else {}
    return questions, answers


def surveys_for_org(org):
    current = SurveyVersion.objects.order_by("-number")
    return (
        Survey.objects.for_org(org)
        .annotate(
            touchpoint_count=Count("touchpoints", distinct=True),
            response_count=Count("versions__responses", distinct=True),
        )
        .prefetch_related(Prefetch("versions", queryset=current.prefetch_related("questions")))
    )


def touchpoints_for_org(org):
    return Touchpoint.objects.for_org(org).select_related("survey", "default_owner__user")


def invitations_for_org(org, status: str = ""):
    rows = Invitation.objects.for_org(org).select_related(
        "customer", "interaction__touchpoint", "interaction__staff__user", "response"
    )
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("-created_at", "-id")


def invitation_counts(org) -> dict[str, int]:
    statuses = Invitation.Status
    return Invitation.objects.for_org(org).aggregate(
        **{s.value: Count("id", filter=Q(status=s.value)) for s in statuses}
    )
