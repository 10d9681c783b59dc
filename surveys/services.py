"""Surveys' writes: recording interactions and scheduling their invitations, building
surveys, saving a customer's answers, unsubscribing. The sweep that sends the invitations is
``surveys.sending``.

Everything here takes ``now`` (or reads ``timezone.now()`` once) and passes it down.
"""

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.mail import email_queue
from accounts.models import InboundAddress, Membership, Organisation

from .ingest import InteractionInput
from .library import TemplateQuestion
from .models import (
    MAX_QUESTIONS,
    Answer,
    Customer,
    HearBack,
    Interaction,
    Invitation,
    Question,
    Response,
    RetiredPublicCode,
    Survey,
    SurveyVersion,
    Touchpoint,
    new_public_code,
)
from .privacy import suppressed_addresses
from .signals import response_submitted

log = logging.getLogger(__name__)

FIVE_QUESTIONS = _(
    "Five questions at most: short surveys get answered, and every extra question costs "
    "answers to the others. Remove one before adding another."
)


# --- Scheduling -------------------------------------------------------------------------------


def quiet_hours_move(*, org: Organisation, when: datetime) -> datetime:
    """Return ``when``, or the end of the organisation's quiet hours if it falls inside them.

    Computed on the wall clock of the organisation's timezone, so it holds across DST changes.
    """
    starts, ends = org.quiet_starts, org.quiet_ends
    if starts == ends:
        return when
    tz = org.tz
    local = when.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    if starts > ends:  # the quiet spans midnight, like 21:00–08:00
        if clock >= starts:
            day = local.date() + timedelta(days=1)
        elif clock < ends:
            day = local.date()
        else:
            return when
    elif starts <= clock < ends:
        day = local.date()
    else:
        return when
    return datetime.combine(day, ends, tzinfo=tz).astimezone(UTC)


def invitation_due_at(*, org: Organisation, occurred_at: datetime, delay_minutes: int) -> datetime:
    return quiet_hours_move(org=org, when=occurred_at + timedelta(minutes=delay_minutes))


def _invitation_new(interaction: Interaction, now: datetime) -> Invitation:
    org = interaction.org
    due = invitation_due_at(
        org=org,
        occurred_at=interaction.occurred_at,
        delay_minutes=interaction.touchpoint.send_delay_minutes,
    )
    return Invitation(
        org=org,
        interaction=interaction,
        customer=interaction.customer,
        due_at=due,
        # Not sent by then (a late import, a long hold) means it's too late to ask.
        expires_at=due + timedelta(days=org.invitation_expiry_days),
        created_at=now,
    )


# --- Recording interactions -------------------------------------------------------------------


def interactions_record(
    *, org: Organisation, items: list[InteractionInput], source: str, now: datetime
) -> list[tuple[Interaction, bool]]:
    """Record interactions and schedule one invitation each.

    Returns (interaction, created) for each item in order; a reference seen before returns
    the interaction it named, created=False, and schedules nothing.
    """
    known = _known_references(org, items)
    if all(item.reference in known for item in items):
        # An integration retrying what it sent before: one read, no transaction, no write.
        return [(known[item.reference], False) for item in items]
    try:
        with transaction.atomic():
            return _record_bulk(org, items, source, now, known=known)
    except IntegrityError:
        # A concurrent request recorded one of these references or customers first.
        return [_record_one(org, item, source, now) for item in items]


def interaction_record(
    *, org: Organisation, item: InteractionInput, source: str, now: datetime
) -> tuple[Interaction, bool]:
    return interactions_record(org=org, items=[item], source=source, now=now)[0]


def _customers_for(org, items, now) -> dict[str, Customer]:
    names = {}
    for item in items:
        names.setdefault(item.email, (item.name, item.locale))
    found = {c.email: c for c in Customer.objects.filter(org=org, email__in=list(names))}
    missing = [
        Customer(org=org, email=email, name=name, locale=locale, created_at=now)
        for email, (name, locale) in names.items()
        if email not in found
    ]
    if missing:
        Customer.objects.bulk_create(missing)
        found.update((c.email, c) for c in missing)
    for email, (name, _locale) in names.items():
        customer = found[email]
        if name and not customer.name:
            customer.name = name
            Customer.objects.filter(pk=customer.pk).update(name=name)
    return found


def _known_references(org, items) -> dict[str, Interaction]:
    """The interactions these items' references already name, ready for the API's answer."""
    refs = {item.reference for item in items if item.reference}
    if not refs:
        return {}
    found = Interaction.objects.filter(org=org, reference__in=refs).select_related(
        "touchpoint", "customer", "invitation"
    )
    return {i.reference: i for i in found}


def _record_bulk(org, items, source, now, known=None) -> list[tuple[Interaction, bool]]:
    known = _known_references(org, items) if known is None else dict(known)
    new = [item for item in items if not (item.reference and item.reference in known)]
    customers = _customers_for(org, new, now) if new else {}
    results, fresh = [], []
    for item in items:
        if item.reference and item.reference in known:
            results.append((known[item.reference], False))
            continue
        interaction = Interaction(
            org=org,
            customer=customers[item.email],
            touchpoint=item.touchpoint,
            staff=item.staff,
            occurred_at=item.occurred_at or now,
            reference=item.reference,
            metadata=item.metadata or {},
            source=source,
            created_at=now,
        )
        if item.reference:
            known[item.reference] = interaction
        fresh.append(interaction)
        results.append((interaction, True))
    if fresh:
        Interaction.objects.bulk_create(fresh)
        invitations = [_invitation_new(i, now) for i in fresh]
        # Someone who had their data erased is recorded afresh (the business did serve them)
        # but never asked again: the suppression list holds their address's keyed hash.
        suppressed = suppressed_addresses(org=org, emails=[i.customer.email for i in fresh])
        for invitation in invitations:
            if invitation.customer.email.lower() in suppressed:
                invitation.status = Invitation.Status.SKIPPED
                invitation.skip_reason = Invitation.SkipReason.SUPPRESSED
        invitations = Invitation.objects.bulk_create(invitations)
        for interaction, invitation in zip(fresh, invitations, strict=True):
            interaction.invitation = invitation  # cached: the API's answer shows it
    return results


def _record_one(org, item, source, now) -> tuple[Interaction, bool]:
    if item.reference:
        existing = Interaction.objects.filter(org=org, reference=item.reference).first()
        if existing:
            return existing, False
    try:
        with transaction.atomic():
            return _record_bulk(org, [item], source, now)[0]
    except IntegrityError:
        return Interaction.objects.get(org=org, reference=item.reference), False


# --- Building surveys -------------------------------------------------------------------------


def survey_create(
    *, org: Organisation, name: str, templates: list[TemplateQuestion] = (), now: datetime
) -> Survey:
    with transaction.atomic():
        survey = Survey.objects.create(org=org, name=name, created_at=now)
        version = SurveyVersion.objects.create(survey=survey, number=1, created_at=now)
        for position, template in enumerate(templates[:MAX_QUESTIONS]):
            Question.objects.create(version=version, position=position, **template.as_fields())
    return survey


def survey_version_for_edit(*, survey: Survey, now: datetime) -> SurveyVersion:
    """The version an edit may change: the current one, or a fresh copy of it once customers
    have been asked or have answered it, so their answers keep the questions they saw."""
    current = survey.current_version()
    if current is None:
        return SurveyVersion.objects.create(survey=survey, number=1, created_at=now)
    in_use = current.responses.exists() or current.invitations.exists()
    if not in_use:
        return current
    fresh = SurveyVersion.objects.create(
        survey=survey,
        number=current.number + 1,
        free_text_prompt=current.free_text_prompt,
        translations=current.translations,
        created_at=now,
    )
    Question.objects.bulk_create(
        [
            Question(
                version=fresh,
                key=q.key,
                position=q.position,
                kind=q.kind,
                text=q.text,
                choices=q.choices,
                low_label=q.low_label,
                high_label=q.high_label,
                translations=q.translations,
            )
            for q in current.questions.all()
        ]
    )
    return fresh


def question_add(*, survey: Survey, fields: dict, now: datetime) -> Question:
    """Add a question at the end. Raises ValidationError past five questions."""
    with transaction.atomic():
        if _question_count(survey) >= MAX_QUESTIONS:
            raise ValidationError(FIVE_QUESTIONS)
        version = survey_version_for_edit(survey=survey, now=now)
        position = version.questions.count()
        return Question.objects.create(version=version, position=position, **fields)


def _question_count(survey: Survey) -> int:
    current = survey.current_version()
    return current.questions.count() if current else 0


def question_update(*, survey: Survey, key, fields: dict, now: datetime) -> Question:
    with transaction.atomic():
        version = survey_version_for_edit(survey=survey, now=now)
        question = version.questions.get(key=key)
        for name, value in fields.items():
            setattr(question, name, value)
        question.save()
        return question


def question_remove(*, survey: Survey, key, now: datetime) -> None:
    with transaction.atomic():
        version = survey_version_for_edit(survey=survey, now=now)
        version.questions.filter(key=key).delete()
        _renumber(version)


def question_move(*, survey: Survey, key, offset: int, now: datetime) -> None:
    """Move a question up (offset -1) or down (+1)."""
    with transaction.atomic():
        version = survey_version_for_edit(survey=survey, now=now)
        questions = list(version.questions.all())
        index = next((i for i, q in enumerate(questions) if q.key == key), None)
        target = None if index is None else index + offset
        if target is None or not 0 <= target < len(questions):
            return
        questions[index], questions[target] = questions[target], questions[index]
        _renumber(version, questions)


def _renumber(version: SurveyVersion, questions=None) -> None:
    questions = questions if questions is not None else list(version.questions.all())
    for position, question in enumerate(questions):
        question.position = position
    Question.objects.bulk_update(questions, ["position"])


def survey_update_prompt(*, survey: Survey, prompt: str, now: datetime) -> None:
    with transaction.atomic():
        version = survey_version_for_edit(survey=survey, now=now)
        version.free_text_prompt = prompt
        version.save(update_fields=["free_text_prompt"])


def survey_update_prompt_translations(
    *, survey: Survey, translations: dict[str, str], now: datetime
) -> None:
    """The comment prompt written per language ({"fr": "…"}), on a new version once the
    current one is in use, like every other edit."""
    with transaction.atomic():
        version = survey_version_for_edit(survey=survey, now=now)
        version.translations = translations
        version.save(update_fields=["translations"])


# --- The customer's answers -------------------------------------------------------------------


def _same(answer: Answer | None, fields: dict) -> bool:
    return answer is not None and all(getattr(answer, k) == v for k, v in fields.items())


def response_save(
    *,
    invitation: Invitation,
    answers: dict[Question, dict],
    existing: dict[int, Answer],
    verbatim: str | None = None,
    consent: bool | None = None,
    now: datetime,
) -> tuple[Response, bool]:
    """Save the customer's answers (already checked by ``Answer.fields_for``), their words and
    consent; ``existing`` maps question id to answers already saved.

    The first save counts as the submission, later ones as changes; saving the same values
    again (a double submit) changes nothing. Returns (response, anything changed). After
    commit, ``response_submitted`` tells whoever listens.
    """
    response = getattr(invitation, "response", None)
    changed_fields = [
        (question, fields)
        for question, fields in answers.items()
        if not _same(existing.get(question.pk), fields)
    ]
    words_changed = verbatim is not None and response is not None and verbatim != response.verbatim
    consent_changed = (
        consent is not None and response is not None and consent != response.consent_to_quote
    )
    if (
        response is not None
        and response.submitted_at
        and not (changed_fields or words_changed or consent_changed)
    ):
        return response, False
    with transaction.atomic():
        if response is None:
            # An autosave and a submit can both be "the first save": lock the invitation so
            # the second waits for the first and then finds its response instead of creating
            # another (the one-to-one would refuse it with an IntegrityError, a 500).
            # Two statements: a locking read joined to the response would keep the snapshot
            # from before the wait and still see no response.
            list(Invitation.objects.select_for_update().filter(pk=invitation.pk).values("pk"))
            response = Response.objects.filter(invitation_id=invitation.pk).first()
            if response is not None:
                invitation.response = response
        first_submission = response is None or response.submitted_at is None
        if response is None:
            response = Response.objects.create(
                org_id=invitation.org_id,
                invitation=invitation,
                survey_version_id=invitation.survey_version_id,
                customer_id=invitation.customer_id,
                created_at=now,
                submitted_at=now,
                verbatim=verbatim or "",
                consent_to_quote=bool(consent),
            )
            invitation.response = response
        else:
            updates = {}
            if first_submission:
                updates["submitted_at"] = now
            else:
                updates["changed_at"] = now
            if verbatim is not None:
                updates["verbatim"] = verbatim
            if consent is not None:
                updates["consent_to_quote"] = consent
                if consent and response.consent_withdrawn_at:
                    updates["consent_withdrawn_at"] = None
            for name, value in updates.items():
                setattr(response, name, value)
            Response.objects.filter(pk=response.pk).update(**updates)
        if changed_fields:
            Answer.objects.bulk_create(
                [
                    Answer(response=response, question=question, answered_at=now, **fields)
                    for question, fields in changed_fields
                ],
                update_conflicts=True,
                unique_fields=["response", "question"],
                update_fields=["yes_no", "rating", "choice", "text", "answered_at"],
            )
        response_id, changed = response.pk, not first_submission
        transaction.on_commit(
            lambda: response_submitted.send(
                sender=Response, response_id=response_id, changed=changed
            )
        )
    return response, True


# --- Unsubscribing ----------------------------------------------------------------------------


def customer_unsubscribe(*, customer: Customer, now: datetime) -> bool:
    """Opt the customer out of every survey of this business. True if this call did it."""
    return bool(Customer.objects.filter(pk=customer.pk, opted_out_at=None).update(opted_out_at=now))


def customer_resubscribe(*, customer: Customer) -> None:
    Customer.objects.filter(pk=customer.pk).update(opted_out_at=None)


# --- Public links (a poster, the website, a kiosk) --------------------------------------------

#: How long a volunteered address waits for its owner to confirm it.
HEAR_BACK_DAYS = 7


def touchpoint_public_code_rotate(*, touchpoint: Touchpoint, now: datetime) -> str:
    """Give the touchpoint a new public link; the old one answers 410 "replaced" from now on
    (a poster that was photographed or a link that leaked stops working). Returns the code."""
    with transaction.atomic():
        locked = Touchpoint.objects.select_for_update().get(pk=touchpoint.pk)
        RetiredPublicCode.objects.create(code=locked.public_code, touchpoint=locked, retired_at=now)
        locked.public_code = new_public_code()
        locked.save(update_fields=["public_code"])
    touchpoint.public_code = locked.public_code
    return locked.public_code


def _public_today_count(touchpoint: Touchpoint, now: datetime) -> int:
    """Public answers to the touchpoint since the business's local midnight that count
    against its daily cap: accepted ones and ones already held by the cap (flagged spam
    doesn't use up the day's allowance of real answers)."""
    tz = touchpoint.org.tz
    midnight = datetime.combine(now.astimezone(tz).date(), datetime.min.time(), tzinfo=tz)
    return (
        Response.objects.filter(
            invitation__interaction__touchpoint=touchpoint,
            created_at__gte=midnight,
            held_reason__in=["", Response.Held.DAILY_CAP],
        )
        .exclude(channel=Response.Channel.EMAIL)
        .count()
    )


def _cap_notice_queue(touchpoint: Touchpoint, now: datetime) -> None:
    """Tell the owners once per local day that answers are being held."""
    org = touchpoint.org
    day = now.astimezone(org.tz).date().isoformat()
    page = settings.SITE_URL + reverse("surveys:touchpoint", args=[touchpoint.code])
    for owner in org.memberships.filter(role=Membership.Role.OWNER).select_related("user"):
        email_queue(
            key=f"public-cap:{touchpoint.pk}:{day}:{owner.pk}",
            kind="public-cap",
            to=owner.user.email,
            template="public-cap",
            org=org,
            context={"touchpoint": touchpoint, "cap": touchpoint.public_daily_cap, "page": page},
        )


def _hear_back_key(org_id: int, email: str, now: datetime) -> str:
    # One confirmation email per address, business and day, however many answers name it:
    # the public form can't be used to flood someone's inbox. Its link confirms them all.
    digest = hashlib.sha256(email.encode()).hexdigest()[:24]
    return f"public-confirm:{org_id}:{digest}:{now.date().isoformat()}"


def public_response_record(
    *,
    touchpoint: Touchpoint,
    version: SurveyVersion,
    answers: dict[Question, dict],
    verbatim: str,
    consent: bool,
    name: str,
    email: str,
    channel: str,
    held_reason: str = "",
    now: datetime,
) -> Response:
    """Store answers given through the touchpoint's public link, however they look.

    Each answer gets its own interaction, anonymous customer and never-emailed invitation
    (``Invitation.Status.PUBLIC``; see ``Response``). ``held_reason`` (a honeypot filled, a
    form sent too fast) or the touchpoint's daily cap holds it for an owner's review: stored,
    listed on the touchpoint's page, but not submitted, so nothing routes or counts it until
    an owner releases it. An ``email`` gets one confirmation email and nothing else.
    """
    org = touchpoint.org
    with transaction.atomic():
        # The touchpoint's lock makes the day's count and this answer one step: a burst of
        # parallel posts can't all slip under the cap.
        list(Touchpoint.objects.select_for_update().filter(pk=touchpoint.pk).values("pk"))
        if not held_reason and _public_today_count(touchpoint, now) >= touchpoint.public_daily_cap:
            held_reason = Response.Held.DAILY_CAP
        customer = Customer.objects.create(org=org, email="", name=name, created_at=now)
        interaction = Interaction.objects.create(
            org=org,
            customer=customer,
            touchpoint=touchpoint,
            occurred_at=now,
            source=Interaction.Source.PUBLIC,
            created_at=now,
        )
        invitation = Invitation.objects.create(
            org=org,
            interaction=interaction,
            customer=customer,
            survey_version=version,
            status=Invitation.Status.PUBLIC,
            due_at=now,
            # The customer's pages (status, changing answers) stay open as long as an emailed
            # customer's would.
            expires_at=now + timedelta(days=org.invitation_expiry_days),
            created_at=now,
        )
        response = Response.objects.create(
            org=org,
            invitation=invitation,
            survey_version=version,
            customer=customer,
            created_at=now,
            submitted_at=None if held_reason else now,
            verbatim=verbatim,
            consent_to_quote=consent,
            channel=channel,
            held_reason=held_reason,
        )
        Answer.objects.bulk_create(
            [
                Answer(response=response, question=question, answered_at=now, **fields)
                for question, fields in answers.items()
            ]
        )
        if email:
            hear_back = HearBack.objects.create(
                response=response,
                email=email,
                created_at=now,
                expires_at=now + timedelta(days=HEAR_BACK_DAYS),
            )
            email_queue(
                key=_hear_back_key(org.pk, email, now),
                kind="public-confirm",
                to=email,
                template="public-confirm",
                org=org,
                context={
                    "confirm_url": settings.SITE_URL
                    + reverse("surveys:hear_back", args=[hear_back.token]),
                    "days": HEAR_BACK_DAYS,
                },
            )
        if held_reason == Response.Held.DAILY_CAP:
            _cap_notice_queue(touchpoint, now)
        if not held_reason:
            response_id = response.pk
            transaction.on_commit(
                lambda: response_submitted.send(
                    sender=Response, response_id=response_id, changed=False
                )
            )
    return response


def response_release(*, response: Response, member: Membership, now: datetime) -> bool:
    """An owner lets a held answer through: it is submitted now, so routing and the figures
    take it from here. False when it was not held (or already released)."""
    with transaction.atomic():
        released = (
            Response.objects.filter(pk=response.pk, org=member.org_id, released_at=None)
            .exclude(held_reason="")
            .update(released_at=now, released_by=member, submitted_at=now)
        )
        if released:
            response_id = response.pk
            transaction.on_commit(
                lambda: response_submitted.send(
                    sender=Response, response_id=response_id, changed=False
                )
            )
    return bool(released)


def hear_back_confirm(
    *, hear_back: HearBack, status_url: Callable[[str], str], now: datetime
) -> list[Response]:
    """The address's owner confirmed, from the page the confirmation email links to: every
    answer to this business still waiting on this address now belongs to a customer with it.

    The address joins the answer's anonymous customer, or, when the business already has a
    customer with that address, the answer moves to that customer (their opt-outs and
    bounces then hold for it too). The customer is then emailed the link to their status
    page (``status_url(token)``: surveys doesn't name a higher floor's page itself); from
    here they hear back exactly like an emailed customer. Returns the responses confirmed.
    """
    org_id = hear_back.response.org_id
    with transaction.atomic():
        pending = list(
            HearBack.objects.select_for_update()
            .filter(
                response__org_id=org_id,
                email=hear_back.email,
                confirmed_at=None,
                expires_at__gt=now,
            )
            .select_related("response__customer", "response__invitation__interaction")
            .order_by("created_at", "pk")
        )
        known = Customer.objects.filter(org_id=org_id, email=hear_back.email).first()
        confirmed = []
        for each in pending:
            response = each.response
            anonymous = response.customer
            if known is None:
                anonymous.email = each.email
                anonymous.save(update_fields=["email"])
                known = anonymous
            elif known.pk != anonymous.pk:
                if anonymous.name and not known.name:
                    Customer.objects.filter(pk=known.pk).update(name=anonymous.name)
                Response.objects.filter(pk=response.pk).update(customer=known)
                Interaction.objects.filter(pk=response.invitation.interaction_id).update(
                    customer=known
                )
                Invitation.objects.filter(pk=response.invitation_id).update(customer=known)
                response.customer = known
            each.confirmed_at = now
            each.save(update_fields=["confirmed_at"])
            confirmed.append(response)
        if confirmed:
            org = confirmed[0].org
            email_queue(
                key=f"public-confirmed:{hear_back.pk}",
                kind="public-confirmed",
                to=hear_back.email,
                template="public-confirmed",
                org=org,
                context={
                    "customer": known,
                    "links": [
                        settings.SITE_URL + status_url(r.invitation.token) for r in confirmed
                    ],
                },
            )
    return confirmed


# --- Mail that came back (surveys.inbound records it; an owner undoes a bounce here) ----------


def customer_bounce_clear(*, customer: Customer, member: Membership, now: datetime) -> bool:
    """The owner says mail to this address works again: surveys may go to it from now on.
    Records who said so and when. True if this call cleared a bounce.

    Only a bounce: a complaint opted the customer out, and only the customer can undo that
    (their unsubscribe page), never the business.
    """
    return bool(
        Customer.objects.filter(pk=customer.pk, org_id=member.org_id)
        .exclude(bounced_at=None)
        .update(bounced_at=None, bounce_cleared_at=now, bounce_cleared_by=member)
    )


def touchpoint_intake_address_issue(*, touchpoint: Touchpoint, now: datetime) -> str:
    """Give the touchpoint a (new) intake address and return it; an earlier one is revoked
    at once, so mail to it is refused as to any unknown address."""
    with transaction.atomic():
        locked = Touchpoint.objects.select_for_update().get(pk=touchpoint.pk)
        InboundAddress.objects.filter(
            org_id=locked.org_id,
            purpose=InboundAddress.Purpose.INTAKE,
            target=str(locked.code),
            revoked_at=None,
        ).update(revoked_at=now)
        locked.intake_generation += 1
        locked.save(update_fields=["intake_generation"])
        row, address = locked.intake_address()
        row.created_at = now
        InboundAddress.objects.bulk_create([row], ignore_conflicts=True)
    touchpoint.intake_generation = locked.intake_generation
    return address


def touchpoint_intake_senders_set(
    *, touchpoint: Touchpoint, domains: list[str], now: datetime
) -> None:
    """Which sender domains' intake mail starts surveys without an owner approving it (from
    ``now`` on: mail already held stays held for the owner)."""
    touchpoint.intake_sender_domains = " ".join(domains)
    touchpoint.save(update_fields=["intake_sender_domains"])
