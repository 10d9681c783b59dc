"""Surveys' reads."""

import functools

from django.db import connection
from django.db.models import Count, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce

from accounts.models import Membership, Organisation, User

from .models import (
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

TOKEN_MAX = 64


class _Part:
    """One model's columns in a fixed, hand-joined SELECT, and how to turn them back into an
    instance (with the same value conversions the ORM applies)."""

    def __init__(self, model, alias: str):
        self.model, self.alias = model, alias
        self.fields = model._meta.concrete_fields
        self.attnames = [f.attname for f in self.fields]
        self.pk_index = self.fields.index(model._meta.pk)

    def columns(self, connection) -> str:
        quote = connection.ops.quote_name
        return ", ".join(f"{self.alias}.{quote(f.column)}" for f in self.fields)

    def converters(self, connection) -> list[tuple[int, list, object]]:
        """(position, functions, column) for each column whose value needs converting."""
        found = []
        for n, field in enumerate(self.fields):
            col = field.get_col(self.alias)
            funcs = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if funcs:
                found.append((n, funcs, col))
        return found


class _Select:
    """A SELECT over a few models joined by hand, built once per process.

    The survey page is Heard's busiest page: the ORM compiling the same joins on every
    request cost more CPU than PostgreSQL spends running them. Measured with
    bench/bench_speed_paths.py (token lookup, questions and answers, the visit; PostgreSQL on
    loopback): 0.9-1.1 ms against 3.1-3.2 ms for the plain ORM's select_related equivalents.
    tests/surveys/test_speed_paths.py checks both load the same rows. ``sql`` is a format string
    whose ``{alias}`` fields become each part's column list and ``{table_Model}`` its table.
    """

    def __init__(self, parts: list[_Part], sql: str):
        self.parts, self.sql = parts, sql

    @functools.cache  # noqa: B019 (a handful of module-level instances, kept for the process)
    def _compiled(self, vendor: str):
        quote = connection.ops.quote_name
        names = {part.alias: part.columns(connection) for part in self.parts}
        names |= {f"table_{p.model.__name__}": quote(p.model._meta.db_table) for p in self.parts}
        converters = [part.converters(connection) for part in self.parts]
        return self.sql.format(**names), converters

    def rows(self, params) -> list[list]:
        """Each row as a list of instances, one per part (None where a LEFT JOIN missed)."""
        sql, converters = self._compiled(connection.vendor)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            fetched = cursor.fetchall()
        result = []
        for row in fetched:
            instances, start = [], 0
            for part, part_converters in zip(self.parts, converters, strict=True):
                values = list(row[start : start + len(part.fields)])
                start += len(part.fields)
                if values[part.pk_index] is None:  # a LEFT JOIN that found nothing
                    instances.append(None)
                    continue
                for n, funcs, col in part_converters:
                    for func in funcs:
                        values[n] = func(values[n], col, connection)
                instances.append(part.model.from_db(connection.alias, part.attnames, values))
            result.append(instances)
        return result


# Two narrow joins, not one wide one: PostgreSQL spends longer planning an eight-table join
# (13 ms measured) than running two four- or five-table ones.
_BY_TOKEN = _Select(
    [
        _Part(Invitation, "i"),
        _Part(Organisation, "o"),
        _Part(Customer, "c"),
        _Part(SurveyVersion, "v"),
        _Part(Response, "r"),
    ],
    "SELECT {i}, {o}, {c}, {v}, {r} FROM {table_Invitation} i "
    "JOIN {table_Organisation} o ON o.id = i.org_id "
    "JOIN {table_Customer} c ON c.id = i.customer_id "
    "JOIN {table_SurveyVersion} v ON v.id = i.survey_version_id "
    "LEFT JOIN {table_Response} r ON r.invitation_id = i.id "
    "WHERE i.token = %s",
)
_INTERACTION = _Select(
    [_Part(Interaction, "x"), _Part(Touchpoint, "t"), _Part(Membership, "m"), _Part(User, "u")],
    "SELECT {x}, {t}, {m}, {u} FROM {table_Interaction} x "
    "JOIN {table_Touchpoint} t ON t.id = x.touchpoint_id "
    "LEFT JOIN {table_Membership} m ON m.id = x.staff_id "
    "LEFT JOIN {table_User} u ON u.id = m.user_id "
    "WHERE x.id = %s",
)
_QUESTIONS = _Select(
    [_Part(Question, "q"), _Part(Answer, "a")],
    "SELECT {q}, {a} FROM {table_Question} q "
    "LEFT JOIN {table_Answer} a ON a.question_id = q.id AND a.response_id = %s "
    "WHERE q.version_id = %s ORDER BY q.position, q.id",
)


def _cache(instance, name: str, value) -> None:
    """Set a relation as select_related would: no query when it is read, even for None."""
    instance._meta.get_field(name).set_cached_value(instance, value)


def invitation_for_token(token: str) -> Invitation | None:
    """The invitation a customer's token opens, with its organisation, customer, survey
    version and response (if any), in one query.

    Only invitations that were sent open a page: a scheduled or skipped one's token was never
    given to anyone (and has no survey version).
    """
    if not token or len(token) > TOKEN_MAX:
        return None
    rows = _BY_TOKEN.rows([token])
    if not rows:
        return None
    invitation, org, customer, version, response = rows[0]
    _cache(invitation, "org", org)
    _cache(invitation, "customer", customer)
    _cache(invitation, "survey_version", version)
    _cache(invitation, "response", response)
    if response is not None:
        _cache(response, "invitation", invitation)
    return invitation


def interaction_load(invitation: Invitation) -> None:
    """Load what the survey page says about the visit (touchpoint, who served) in one query;
    only pages that show it pay for it."""
    interaction, touchpoint, member, user = _INTERACTION.rows([invitation.interaction_id])[0]
    _cache(interaction, "touchpoint", touchpoint)
    _cache(interaction, "staff", member)
    if member is not None:
        _cache(member, "user", user)
    _cache(invitation, "interaction", interaction)


def survey_page_data(invitation: Invitation) -> tuple[list, dict[int, Answer]]:
    """The version's questions and the answers saved so far (by question id): one query."""
    response = getattr(invitation, "response", None)
    rows = _QUESTIONS.rows([response.pk if response else None, invitation.survey_version_id])
    questions = [question for question, _answer in rows]
    answers = {answer.question_id: answer for _question, answer in rows if answer is not None}
    return questions, answers


def _count_per_survey(queryset, survey_path: str):
    """A correlated COUNT per survey: no join of touchpoints × responses to de-duplicate."""
    counted = (
        queryset.filter(**{survey_path: OuterRef("pk")})
        .order_by()
        .values(survey_path)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted), 0)


def surveys_for_org(org):
    current = SurveyVersion.objects.order_by("-number")
    return (
        Survey.objects.for_org(org)
        .annotate(
            touchpoint_count=_count_per_survey(Touchpoint.objects.all(), "survey"),
            response_count=_count_per_survey(Response.objects.all(), "survey_version__survey"),
        )
        .prefetch_related(Prefetch("versions", queryset=current.prefetch_related("questions")))
    )


def touchpoints_for_org(org):
    return Touchpoint.objects.for_org(org).select_related("survey", "default_owner__user")


def invitations_for_org(org, status: str = ""):
    rows = Invitation.objects.for_org(org).select_related(
        "customer", "interaction__touchpoint", "interaction__staff__user", "response"
    )
    # The page is about the emails Heard sends; answers through a public link are listed only
    # when asked for by their status.
    public = Invitation.Status.PUBLIC
    rows = rows.filter(status=status) if status else rows.exclude(status=public)
    return rows.order_by("-created_at", "-id")


#: The most held answers the touchpoint page lists at once (the oldest wait for the newest).
HELD_SHOWN = 50


def held_responses(touchpoint: Touchpoint) -> list[Response]:
    """Answers through the public link held for review (the daily cap, a honeypot, a form
    sent too fast), newest first, with their answers: the owner sees every one."""
    return list(
        Response.objects.filter(
            org=touchpoint.org_id,
            invitation__interaction__touchpoint=touchpoint,
            released_at=None,
        )
        .exclude(held_reason="")
        .select_related("invitation", "customer")
        .prefetch_related(Prefetch("answers", Answer.objects.select_related("question")))
        .order_by("-created_at", "-pk")[:HELD_SHOWN]
    )


def invitation_counts(org) -> dict[str, int]:
    statuses = Invitation.Status
    return Invitation.objects.for_org(org).aggregate(
        **{s.value: Count("id", filter=Q(status=s.value)) for s in statuses}
    )


# --- The read API (surveys.api) -----------------------------------------------------------------


def _api_responses(org):
    return (
        Response.objects.filter(org=org, submitted_at__isnull=False)
        .select_related("customer", "invitation__interaction__touchpoint")
        .prefetch_related(
            Prefetch(
                "answers",
                queryset=Answer.objects.select_related("question").order_by("question__position"),
            )
        )
        .order_by("-submitted_at", "-id")
    )


def api_responses_page(*, org, since, until, touchpoint, after, limit: int) -> list[Response]:
    """One page of submitted responses, newest first, after the keyset ``after``.

    Two queries whatever the page (responses with their customer and interaction, then their
    answers). ``submitted_at <= t`` leads the keyset condition so that the
    ``response_org_submitted`` index (org, -submitted_at) bounds the scan: a late page reads
    no more rows than the first.
    """
    rows = _api_responses(org)
    if since:
        rows = rows.filter(submitted_at__gte=since)
    if until:
        rows = rows.filter(submitted_at__lt=until)
    if touchpoint:
        rows = rows.filter(invitation__interaction__touchpoint__slug=touchpoint)
    if after:
        when, pk = after
        rows = rows.filter(Q(submitted_at__lte=when), Q(submitted_at__lt=when) | Q(id__lt=pk))
    return list(rows[:limit])


def api_customer(*, org, email: str, responses: int = 20):
    """The organisation's customer with this email (any case) and their latest responses."""
    customer = Customer.objects.filter(org=org, email=email.strip().lower()).first()
    if customer is None:
        return None, []
    return customer, list(_api_responses(org).filter(customer=customer)[:responses])
