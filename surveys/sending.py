"""The invitation sweep (``send_due_invitations``): email every due invitation, or record why
not, then the one reminder of each unanswered one.

Each batch is one transaction that claims due rows (``SELECT … FOR UPDATE SKIP LOCKED``, so
parallel sweeps share the work), decides each row, records the emails in the outbox and marks
the rows; the emails leave only after that commits (``accounts.mail.email_deliver``), so a
crash repeats at most the one message in flight. A row that can't be read or decided is
failed on its own, with the reason, and its organisation's owners are told; the sweep goes
on with the rest.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max
from django.urls import reverse

from accounts.mail import email_build, email_deliver, email_record, open_connection
from accounts.models import InboundAddress, Membership

from .models import Customer, Invitation, Question, Response, SurveyVersion
from .services import quiet_hours_move

log = logging.getLogger(__name__)

SEND_BATCH = 50
_RELATED = ("org", "customer", "interaction__touchpoint", "interaction__staff__user")


# --- The email --------------------------------------------------------------------------------


def survey_url(token: str) -> str:
    return settings.SITE_URL + reverse("surveys:page", args=[token])


def unsubscribe_url(token: str) -> str:
    return settings.SITE_URL + reverse("surveys:unsubscribe", args=[token])


def answer_link(token: str, question: Question, value: str) -> str:
    return f"{survey_url(token)}?q={question.key}&a={quote(value, safe='')}"


def invitation_email_context(invitation: Invitation, version, questions, *, reminder=False):
    interaction = invitation.interaction
    first = questions[0] if questions else None
    question, options = None, []
    if first is not None:
        # The first question as the customer's language has it (written for it, else the
        # default); each link still answers with the default-language value.
        shown = first.in_language(invitation.org.language_for(invitation.customer.locale))
        question = {
            "key": first.key,
            "kind": first.kind,
            "text": shown["text"],
            "low_label": shown["low_label"],
            "high_label": shown["high_label"],
        }
        options = [
            (label, answer_link(invitation.token, first, value))
            for label, value in shown["options"]
        ]
    staff = interaction.staff
    return {
        "org": invitation.org,
        "customer_first_name": invitation.customer.first_name,
        "staff_first_name": staff.first_name if staff and staff.user.name else "",
        "touchpoint": interaction.touchpoint,
        "question": question,
        "options": options,
        "question_count": len(questions),
        "survey_url": survey_url(invitation.token),
        "unsubscribe_url": unsubscribe_url(invitation.token),
        "reminder": reminder,
        "brand_colour": invitation.org.brand_colour,
    }


def reply_address(invitation: Invitation) -> tuple[InboundAddress, str]:
    """Where the customer's reply to a survey email goes: Heard's inbound address for this
    invitation (surveys.inbound turns the reply into their words), with its unsaved row."""
    return InboundAddress.derived(
        org=invitation.org,
        purpose=InboundAddress.Purpose.REPLY_INVITATION,
        target=str(invitation.code),
    )


def _invitation_email(invitation, version, questions, *, reminder=False):
    org = invitation.org
    prefix, template = ("invitation", "survey-invitation")
    if reminder:
        prefix, template = ("invitation-reminder", "survey-reminder")
    return email_build(
        key=f"{prefix}:{invitation.pk}",
        kind=template,
        to=invitation.customer.email,
        template=template,
        context=invitation_email_context(invitation, version, questions, reminder=reminder),
        org=org,
        # Each email in its customer's language (Customer.locale, else the business's default).
        language=org.language_for(invitation.customer.locale),
        reply_to=reply_address(invitation)[1],
        # RFC 8058: mail clients show an unsubscribe button that POSTs without cookies.
        headers={
            "List-Unsubscribe": f"<{unsubscribe_url(invitation.token)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


# --- The sweep --------------------------------------------------------------------------------


@dataclass
class _Batch:
    claimed: int = 0
    # Every outbox key recorded (to deliver once the batch has committed), and how many of
    # them are survey emails rather than alerts to owners.
    keys: list[str] = field(default_factory=list)
    surveys: int = 0


def invitations_send_due(*, now: datetime, batch: int = SEND_BATCH, max_batches=1000) -> int:
    """Send (or skip, with the reason) every due invitation, then every due reminder.
    Returns how many invitations and reminders were sent.

    One provider session serves the whole sweep, opened only if something is sent.
    """
    sent = 0
    connection = open_connection()
    try:
        for step in (_invite_batch, _remind_batch):
            for _ in range(max_batches):
                done = step(now, batch)
                if done.keys:
                    email_deliver(keys=done.keys, now=now, connection=connection)
                sent += done.surveys
                if done.claimed < batch:
                    break
    finally:
        connection.close()
    return sent


def _claim(
    queryset, batch: int, order: str, now: datetime
) -> tuple[int, list[Invitation], list[str]]:
    """Lock up to ``batch`` rows of ``queryset`` and their customers, and load them.

    Returns (rows claimed, rows loaded, keys of owner alerts recorded for rows that could not
    be read). The customers are locked too: a parallel sweep holding another invitation for
    the same customer skips this one until it has committed last_surveyed_at, so fatigue
    holds. Only ids are read to claim, so one row whose values the driver can't read (a date
    before year 1 in a time zone) is failed alone instead of failing every sweep.
    """
    pairs = list(
        queryset.select_for_update(skip_locked=True)
        .order_by(order, "pk")
        .values_list("pk", "customer_id")[:batch]
    )
    if not pairs:
        return 0, [], []
    free = set(
        Customer.objects.filter(pk__in={c for _, c in pairs})
        .select_for_update(skip_locked=True)
        .values_list("pk", flat=True)
    )
    pks = [pk for pk, customer_id in pairs if customer_id in free]
    rows, unreadable = _load(pks)
    alerts = [key for pk, error in unreadable.items() for key in _quarantine(pk, error, now)]
    return len(pairs), rows, alerts


def _load(pks: list[int]) -> tuple[list[Invitation], dict[int, str]]:
    """The invitations with what deciding them reads; {pk: error} for rows that can't be read."""
    loading = Invitation.objects.select_related(*_RELATED, "survey_version").order_by("due_at")
    try:
        with transaction.atomic():
            return list(loading.filter(pk__in=pks)), {}
    except Exception:  # some row is unreadable: find which, one by one
        log.warning("An invitation batch could not be read; loading its rows one by one")
    rows, unreadable = [], {}
    for pk in pks:
        try:
            with transaction.atomic():
                rows.extend(loading.filter(pk=pk))
        except Exception as exc:  # that row's data, not the sweep, is broken
            log.exception("Invitation %s could not be read", pk)
            unreadable[pk] = f"Its data could not be read: {exc}"
    return rows, unreadable


def _quarantine(pk: int, error: str, now: datetime) -> list[str]:
    """Fail one unreadable invitation without reading it, and tell its organisation's owners.
    Returns the keys of the alert emails recorded."""
    # Its own dates are overwritten too (they are what can't be read, as a rule), so the
    # owner's invitations page can still show the row and why it failed.
    Invitation.objects.filter(pk=pk).update(
        status=Invitation.Status.FAILED,
        attempts=F("attempts") + 1,
        last_error=error[:2000],
        due_at=now,
        expires_at=now,
    )
    org_id = Invitation.objects.filter(pk=pk).values_list("org_id", flat=True).first()
    owners = Membership.objects.filter(org_id=org_id, role=Membership.Role.OWNER)
    emails = [
        email_build(
            key=f"invitation-failed:{pk}:{owner.pk}",
            kind="invitation-failed",
            to=owner.user.email,
            template="invitation-failed",
            context={"org": owner.org, "error": error, "invitations_url": _invitations_url()},
            org=owner.org,
        )
        for owner in owners.select_related("user", "org")
    ]
    outcome = email_record(emails)
    return [e.key for e in emails if e.key not in outcome.unrecorded]


def _invitations_url() -> str:
    return settings.SITE_URL + reverse("surveys:invitations")


def _active_versions(invitations) -> dict[int, tuple[SurveyVersion, list[Question]] | None]:
    """Each touchpoint's survey's current version with its questions, loaded once per batch."""
    survey_ids = {
        i.interaction.touchpoint.survey_id
        for i in invitations
        if i.interaction.touchpoint.survey_id
    }
    latest = (
        SurveyVersion.objects.filter(survey_id__in=survey_ids, survey__active=True)
        .values("survey_id")
        .annotate(number=Max("number"))
    )
    wanted = {(row["survey_id"], row["number"]) for row in latest}
    versions = {}
    if wanted:
        candidates = SurveyVersion.objects.filter(survey_id__in=survey_ids).prefetch_related(
            "questions"
        )
        for version in candidates:
            if (version.survey_id, version.number) in wanted:
                questions = list(version.questions.all())
                versions[version.survey_id] = (version, questions) if questions else None
    return versions


def _reply_addresses_record(invitations) -> None:
    """One statement per batch: the reply address rows of the invitations emailed (a row
    that exists already is left as it is)."""
    rows = [reply_address(invitation)[0] for invitation in invitations]
    if rows:
        InboundAddress.objects.bulk_create(rows, ignore_conflicts=True)


def _update_grouped(rows: list[Invitation], fields: list[str]) -> None:
    """Write back claimed rows with one UPDATE per distinct set of values.

    A batch's rows mostly end the same way (sent at the same moment, or skipped for the same
    reason), so this is one or two statements, where ``bulk_update``'s CASE per field and row
    costs more Python to build than the sending it records.
    """
    groups: dict[tuple, list[int]] = {}
    for row in rows:
        groups.setdefault(tuple(getattr(row, f) for f in fields), []).append(row.pk)
    for values, pks in groups.items():
        Invitation.objects.filter(pk__in=pks).update(**dict(zip(fields, values, strict=True)))


def _fail(invitation: Invitation, error: str) -> None:
    invitation.status = Invitation.Status.FAILED
    invitation.attempts += 1
    invitation.last_error = error[:2000]


def invitation_mark_sent(*, invitation: Invitation, version: SurveyVersion, now: datetime) -> None:
    """Record on the (unsaved) row that its email went out at ``now``: the version asked,
    when the link expires and when the one reminder is due. The caller saves it."""
    org = invitation.org
    invitation.survey_version = version
    invitation.status = Invitation.Status.SENT
    invitation.sent_at = now
    invitation.attempts += 1
    invitation.expires_at = now + timedelta(days=org.invitation_expiry_days)
    days = org.survey_reminder_days
    # Reminders keep the quiet hours too: N days after a morning send can land before
    # 08:00 once the clocks go back.
    reminder_at = quiet_hours_move(org=org, when=now + timedelta(days=days)) if days else None
    invitation.reminder_due_at = (
        reminder_at if reminder_at and reminder_at < invitation.expires_at else None
    )


def _decide(invitation, versions, surveyed, now):
    """The email to send for one claimed invitation, or None (the row says why)."""
    found = versions.get(invitation.interaction.touchpoint.survey_id)
    version, questions = found or (None, [])
    last = surveyed.get(invitation.customer_id, invitation.customer.last_surveyed_at)
    reason = invitation.reason_not_to_send(
        now=now, has_survey=version is not None, last_surveyed_at=last
    )
    if reason:
        invitation.status = Invitation.Status.SKIPPED
        invitation.skip_reason = reason
        return None
    email = _invitation_email(invitation, version, questions)
    invitation_mark_sent(invitation=invitation, version=version, now=now)
    return email


def _invite_batch(now, batch) -> _Batch:
    with transaction.atomic():
        claimed, rows, alerts = _claim(Invitation.objects.due(now), batch, "due_at", now)
        versions = _active_versions(rows)
        # Customers emailed in this batch: a second invitation for one of them is fatigued.
        surveyed: dict[int, datetime] = {}
        emails, waiting = [], {}
        for invitation in rows:
            try:
                email = _decide(invitation, versions, surveyed, now)
            except Exception as exc:  # a broken template or row: record it, carry on
                log.exception("Invitation %s could not be sent", invitation.pk)
                _fail(invitation, str(exc))
                continue
            if email is not None:
                emails.append(email)
                waiting[email.key] = invitation
                surveyed[invitation.customer_id] = now
        outcome = email_record(emails)
        for key, error in outcome.unrecorded.items():
            _fail(waiting.pop(key), error)
        _reply_addresses_record(waiting.values())
        surveyed = {inv.customer_id: now for inv in waiting.values()}
        _update_grouped(
            rows,
            [
                "status",
                "skip_reason",
                "sent_at",
                "survey_version_id",
                "expires_at",
                "reminder_due_at",
                "attempts",
                "last_error",
            ],
        )
        if surveyed:
            Customer.objects.filter(pk__in=list(surveyed)).update(last_surveyed_at=now)
    return _Batch(claimed, [*waiting, *alerts], len(waiting))


def _remind_batch(now, batch) -> _Batch:
    with transaction.atomic():
        claimed, rows, alerts = _claim(
            Invitation.objects.reminder_due(now), batch, "reminder_due_at", now
        )
        answered = set(
            Response.objects.filter(invitation__in=rows, submitted_at__isnull=False).values_list(
                "invitation_id", flat=True
            )
        )
        questions: dict[int, list[Question]] = {}
        emails = []
        for invitation in rows:
            invitation.reminded_at = now
            version = invitation.survey_version
            reason = invitation.reason_not_to_send(
                now=now, has_survey=version is not None, reminder=True
            )
            if invitation.pk in answered or reason:
                invitation.reminder_due_at = None
                continue
            if version.pk not in questions:
                questions[version.pk] = list(version.questions.all())
            try:
                emails.append(
                    _invitation_email(invitation, version, questions[version.pk], reminder=True)
                )
            except Exception:  # a broken template: the reminder is skipped, never retried
                log.exception("Reminder for invitation %s could not be sent", invitation.pk)
        outcome = email_record(emails)
        _reply_addresses_record(rows)
        _update_grouped(rows, ["reminded_at", "reminder_due_at"])
    recorded = [e.key for e in emails if e.key not in outcome.unrecorded]
    return _Batch(claimed, [*recorded, *alerts], len(recorded))
