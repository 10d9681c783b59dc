"""The demo business's touchpoints, surveys and a fortnight of sample interactions.

Idempotent: every sample has a fixed reference and address, so running it again creates
nothing new. It never sends ``response_submitted``: the actions demo routes these responses.
"""

from datetime import timedelta

from django.utils import timezone

from .ingest import InteractionInput
from .library import LIBRARY
from .models import Answer, Customer, Interaction, Invitation, Touchpoint
from .sending import invitation_mark_sent
from .services import interactions_record, response_save, survey_create

TOUCHPOINTS = [
    ("repair-collected", "Repair collected", 60, "After a repair", "repair"),
    ("in-store-purchase", "In-store purchase", 60, "After your visit", "retail"),
    ("phone-support", "Phone support", 30, "After a phone call", "general"),
]

Y, N = "yes", "no"

# (reference, touchpoint slug, staff index (None: the owner), email, name, days ago, state,
#  answers by position, the customer's words, consent to quote)
SAMPLES = [
    (
        "demo-1",
        "in-store-purchase",
        0,
        "jo.bloggs@example.com",
        "Jo Bloggs",
        9,
        "answered",
        [N, Y, Y, Y, N],
        "The brake pads I came for were out of stock and nobody told me when they'd be back.",
        True,
    ),
    (
        "demo-2",
        "repair-collected",
        1,
        "ana.martins@example.com",
        "Ana Martins",
        8,
        "answered",
        [N, Y, Y, Y, N],
        "I was told Thursday and it was ready on Saturday. "
        "A text would have saved me a wasted trip.",
        True,
    ),
    (
        "demo-3",
        "in-store-purchase",
        0,
        "lee.chen@example.com",
        "Lee Chen",
        7,
        "answered",
        [Y, Y, Y, Y, Y],
        "Sam found me the right inner tube in two minutes. Brilliant.",
        True,
    ),
    (
        "demo-4",
        "repair-collected",
        1,
        "tom.hughes@example.com",
        "Tom Hughes",
        6,
        "answered",
        [Y, Y, Y, Y, Y],
        "Wheel runs true for the first time in years. Thanks, Priya!",
        True,
    ),
    (
        "demo-5",
        "phone-support",
        None,
        "mia.kowalski@example.com",
        "Mia Kowalski",
        5,
        "answered",
        [N, N, Y, Y, "Answer the phone on Saturdays."],
        "I rang three times before anyone picked up.",
        False,
    ),
    (
        "demo-6",
        "in-store-purchase",
        1,
        "raj.patel@example.com",
        "Raj Patel",
        4,
        "answered",
        [Y, Y, Y, N, Y],
        "The helmet was £10 more than on your website.",
        True,
    ),
    (
        "demo-7",
        "repair-collected",
        0,
        "eve.long@example.com",
        "Eve Long",
        3,
        "answered",
        [Y, Y, Y, Y, Y],
        "",
        False,
    ),
    (
        "demo-8",
        "in-store-purchase",
        0,
        "dan.okoro@example.com",
        "Dan Okoro",
        2,
        "answered",
        [Y, Y, N, Y, Y],
        "Queue was long on Saturday morning, only one person on the till.",
        False,
    ),
    ("demo-9", "repair-collected", 1, "kate.ng@example.com", "Kate Ng", 4, "sent", [], "", False),
    (
        "demo-10",
        "in-store-purchase",
        0,
        "ben.ford@example.com",
        "Ben Ford",
        1,
        "sent",
        [],
        "",
        False,
    ),
    (
        "demo-11",
        "repair-collected",
        1,
        "sara.ali@example.com",
        "Sara Ali",
        0,
        "scheduled",
        [],
        "",
        False,
    ),
    (
        "demo-12",
        "in-store-purchase",
        0,
        "omar.said@example.com",
        "Omar Said",
        0,
        "scheduled",
        [],
        "",
        False,
    ),
    # Jo was asked nine days ago: fatigue rules keep her from being asked again so soon.
    (
        "demo-13",
        "in-store-purchase",
        1,
        "jo.bloggs@example.com",
        "Jo Bloggs",
        1,
        "fatigue",
        [],
        "",
        False,
    ),
]


def seed(people) -> list[Touchpoint]:
    now = timezone.now()
    touchpoints = [_touchpoint(people, now, *spec) for spec in TOUCHPOINTS]
    by_slug = {t.slug: t for t in touchpoints}
    done = set(
        Interaction.objects.filter(
            org=people.org, reference__in=[s[0] for s in SAMPLES]
        ).values_list("reference", flat=True)
    )
    for sample in SAMPLES:
        if sample[0] not in done:
            _sample(people, by_slug, now, *sample)
    return touchpoints


def _touchpoint(people, now, slug, name, delay, survey_name, business) -> Touchpoint:
    touchpoint, _ = Touchpoint.objects.get_or_create(
        org=people.org,
        slug=slug,
        defaults={"name": name, "send_delay_minutes": delay, "default_owner": people.owner},
    )
    if touchpoint.survey_id is None:
        survey = people.org.surveys.filter(name=survey_name).first() or survey_create(
            org=people.org, name=survey_name, templates=LIBRARY[business]["questions"], now=now
        )
        touchpoint.survey = survey
        touchpoint.save(update_fields=["survey"])
    return touchpoint


def _sample(
    people, by_slug, now, reference, slug, staff, email, name, days, state, answers, words, consent
) -> None:
    org = people.org
    staff_member = people.owner if staff is None else people.staff[staff]
    # Served at 11:00 or so, a few days ago; the scheduled ones just now, due within the hour.
    occurred = now - timedelta(days=days, hours=0 if state == "scheduled" else 3)
    if state == "scheduled":
        occurred = now - timedelta(minutes=45)
    item = InteractionInput(
        email=email,
        name=name,
        touchpoint=by_slug[slug],
        staff=staff_member,
        occurred_at=occurred,
        reference=reference,
    )
    [(interaction, _)] = interactions_record(
        org=org, items=[item], source=Interaction.Source.DEMO, now=now
    )
    invitation = interaction.invitation
    if state == "scheduled":
        return
    if state == "fatigue":
        invitation.status = Invitation.Status.SKIPPED
        invitation.skip_reason = Invitation.SkipReason.FATIGUE
        invitation.save(update_fields=["status", "skip_reason"])
        return
    sent_at = occurred + timedelta(hours=1)
    # Sent an hour after the visit, by the same service the send sweep uses (the demo writes
    # no email for it: these customers were asked days ago).
    invitation_mark_sent(
        invitation=invitation, version=interaction.touchpoint.survey.current_version(), now=sent_at
    )
    invitation.reminder_due_at = None  # the demo shouldn't start sending reminders
    invitation.save()
    Customer.objects.filter(pk=invitation.customer_id).update(last_surveyed_at=sent_at)
    if state == "answered":
        _answer(invitation, answers, words, consent, sent_at + timedelta(minutes=20))


def _answer(invitation, answers, words, consent, when) -> None:
    """The customer's answers, saved as the survey page saves them (checked by the same
    rules), twenty minutes after the email."""
    questions = list(invitation.survey_version.questions.all())
    checked = {
        question: Answer.fields_for(question, value)
        for question, value in zip(questions, answers, strict=False)
    }
    response_save(
        invitation=invitation,
        answers=checked,
        existing={},
        verbatim=words,
        consent=consent,
        now=when,
    )
