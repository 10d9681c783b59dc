import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection, connections
from django.utils import timezone

from accounts.models import Membership, OutgoingEmail
from actions.models import Action, ActionEvent
from actions.notices import action_notices_sweep, morning_digests_send
from actions.services import action_close, action_deadline_change, action_status_set
from tests.conftest import make_member

from .conftest import WEDNESDAY_10AM

STOCK = 0


def at(hours):
    return WEDNESDAY_10AM + timedelta(hours=hours)


@pytest.fixture
def action(routed, teammate):
    # Opened Wednesday 10:00, due Friday 10:00: reminder Thursday 10:00, escalation Monday 10:00.
    with time_machine.travel(WEDNESDAY_10AM, tick=False):
        return routed({STOCK: False}, verbatim="Chain came off twice.", staff=teammate)


def kinds_sent():
    return list(
        OutgoingEmail.objects.filter(sent_at__isnull=False)
        .exclude(kind="action_new")
        .order_by("created_at", "pk")
        .values_list("kind", flat=True)
    )


def test_it_sends_reminder_overdue_and_escalation_once_each_with_a_moving_clock(
    action, teammate, owner
):
    for hours in (0, 23.9):
        action_notices_sweep(now=at(hours))
    assert kinds_sent() == []
    for hours in (24, 24.5, 30):  # Thursday 10:00: the reminder
        action_notices_sweep(now=at(hours))
    assert kinds_sent() == ["action_reminder"]
    for hours in (48, 49, 70):  # Friday 10:00: overdue
        action_notices_sweep(now=at(hours))
    assert kinds_sent() == ["action_reminder", "action_overdue"]
    action_notices_sweep(now=at(119.9))  # the weekend is not a working day
    assert kinds_sent() == ["action_reminder", "action_overdue"]
    for hours in (120, 121, 200):  # Monday 10:00: escalated to the owner
        action_notices_sweep(now=at(hours))
    assert kinds_sent() == ["action_reminder", "action_overdue", "action_escalation"]
    rows = {e.kind: e.to for e in OutgoingEmail.objects.all()}
    assert rows["action_reminder"] == rows["action_overdue"] == teammate.user.email
    assert rows["action_escalation"] == owner.user.email
    action.refresh_from_db()
    assert action.reminder_sent_at == at(24) and action.overdue_sent_at == at(48)
    assert action.escalated_at == at(120)
    kinds = list(action.events.values_list("kind", flat=True))
    assert kinds[-3:] == ["reminder", "overdue", "escalated"]
    escalation = next(m for m in mail.outbox if m.to == [owner.user.email])
    assert "Chain came off twice." in escalation.body and "Bob Baker" in escalation.body


def test_it_escalates_to_every_owner(action, org):
    second = make_member(org, "carol@alpha.example", Membership.Role.OWNER, "Carol")
    action_notices_sweep(now=at(200))
    escalated = OutgoingEmail.objects.filter(kind="action_escalation")
    assert sorted(escalated.values_list("to", flat=True)) == [
        "alice@alpha.example",
        second.user.email,
    ]


def test_it_emails_every_owner_about_an_unowned_action(action, org, owner):
    second = make_member(org, "carol@alpha.example", Membership.Role.OWNER, "Carol")
    Action.objects.filter(pk=action.pk).update(owner=None)
    action_notices_sweep(now=at(24))  # the reminder
    action_notices_sweep(now=at(48))  # overdue
    for kind in ("action_reminder", "action_overdue"):
        sent = OutgoingEmail.objects.filter(kind=kind, sent_at__isnull=False)
        assert sorted(sent.values_list("to", flat=True)) == sorted(
            [owner.user.email, second.user.email]
        )
    # Really sent, not just recorded: each owner got both notices.
    told = sorted(m.to[0] for m in mail.outbox)
    assert told == sorted([owner.user.email, second.user.email] * 2)
    events = action.events.filter(kind__in=["reminder", "overdue"])
    assert [e.text for e in events.order_by("pk")] == ["Emailed Alice Archer, Carol."] * 2


def test_closed_and_waiting_actions_get_no_notices(action, teammate, routed):
    with time_machine.travel(WEDNESDAY_10AM, tick=False):
        waiting = routed({STOCK: False}, staff=teammate)
        action_status_set(action=waiting, actor=teammate, status=Action.Status.WAITING, now=at(1))
    action_close(
        action=action, actor=teammate, status=Action.Status.DONE, resolution="Fixed.", now=at(2)
    )
    action_notices_sweep(now=at(500))
    assert kinds_sent() == []


def test_waiting_on_the_customer_pauses_the_clock(action, teammate):
    action_status_set(action=action, actor=teammate, status=Action.Status.WAITING, now=at(1))
    action_status_set(action=action, actor=teammate, status=Action.Status.IN_PROGRESS, now=at(25))
    action.refresh_from_db()
    assert action.due_at == at(48 + 24)
    assert action.reminder_due_at == at(24 + 24)
    assert action.escalate_at == at(120 + 24)
    assert action.paused_at is None
    event = action.events.filter(kind=ActionEvent.Kind.DEADLINE_CHANGED).get()
    assert event.data["paused"] and "24 h" in event.text
    action_notices_sweep(now=at(47))
    assert kinds_sent() == []
    action_notices_sweep(now=at(48))
    assert kinds_sent() == ["action_reminder"]


def test_a_new_deadline_earns_new_notices(action, teammate):
    action_notices_sweep(now=at(50))
    assert kinds_sent() == ["action_reminder", "action_overdue"]
    action_deadline_change(
        action=action, actor=teammate, due_at=at(100), reason="Parts late.", now=at(51)
    )
    action.refresh_from_db()
    assert action.overdue_sent_at is None and action.reminder_due_at == at(76)
    action_notices_sweep(now=at(100))
    assert kinds_sent() == [
        "action_reminder",
        "action_overdue",
        "action_reminder",
        "action_overdue",
    ]


def test_a_reminder_email_names_the_deadline_and_links_the_action(action, teammate):
    action_notices_sweep(now=at(24))
    email = mail.outbox[-1]
    assert email.to == [teammate.user.email]
    assert "Friday 16 January, 10:00" in email.body
    assert f"http://testserver/actions/{action.code}/" in email.body


# Digests ---------------------------------------------------------------------------------


def test_it_sends_each_member_one_digest_per_local_working_day(action, teammate, routed, owner):
    with time_machine.travel(WEDNESDAY_10AM, tick=False):
        routed({STOCK: False}, staff=owner)  # due Friday: nothing for Alice before then
    thursday = datetime(2026, 1, 15, 8, 59, tzinfo=UTC)
    friday = datetime(2026, 1, 16, 9, 0, tzinfo=UTC)
    assert morning_digests_send(now=thursday) == 0  # before opening
    assert morning_digests_send(now=friday) == 2  # both due today
    assert morning_digests_send(now=friday + timedelta(minutes=5)) == 0
    assert morning_digests_send(now=friday + timedelta(hours=6)) == 0
    saturday = friday + timedelta(days=1)
    assert morning_digests_send(now=saturday) == 0
    monday = friday + timedelta(days=3)
    assert morning_digests_send(now=monday) == 2  # both overdue now
    keys = sorted(OutgoingEmail.objects.filter(kind="digest").values_list("key", flat=True))
    assert keys == sorted(
        [
            f"digest:{teammate.pk}:2026-01-16",
            f"digest:{owner.pk}:2026-01-16",
            f"digest:{teammate.pk}:2026-01-19",
            f"digest:{owner.pk}:2026-01-19",
        ]
    )
    bob = next(m for m in mail.outbox if m.to == [teammate.user.email] and "Overdue" in m.body)
    assert "Chain came off twice." in bob.body


def test_it_sends_no_digest_when_nothing_is_due_or_open(action, teammate):
    wednesday_later = WEDNESDAY_10AM + timedelta(hours=1)
    assert morning_digests_send(now=wednesday_later) == 0  # due Friday, not today
    action_close(
        action=action,
        actor=teammate,
        status=Action.Status.DONE,
        resolution="Done.",
        now=timezone.now(),
    )
    assert morning_digests_send(now=WEDNESDAY_10AM + timedelta(days=2)) == 0


def test_it_sends_digests_in_the_organisations_timezone(action, org):
    org.timezone = "America/New_York"
    org.save()
    friday_9am_london = datetime(2026, 1, 16, 9, 0, tzinfo=UTC)
    assert morning_digests_send(now=friday_9am_london) == 0  # 04:00 in New York
    assert morning_digests_send(now=friday_9am_london + timedelta(hours=5)) == 1


# Races and a real worker -----------------------------------------------------------------


def _race(target, n=2):
    barrier = threading.Barrier(n)
    errors = []

    def run():
        barrier.wait()
        try:
            target()
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def _open_actions(org, owner, touchpoint, n):
    from actions.routing import response_route
    from tests.factories import make_invitation, make_response

    for _ in range(n):
        with time_machine.travel(WEDNESDAY_10AM, tick=False):
            response_route(
                response_id=make_response(make_invitation(touchpoint), {STOCK: False}).pk,
                now=WEDNESDAY_10AM,
            )


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_racing_send_each_notice_once(org, owner, touchpoint, settings):
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED row claiming is what is under test; CI runs it on PostgreSQL")
    settings.MAILERS = {"default": {"BACKEND": "tests.test_worker.SlowBackend"}}
    _open_actions(org, owner, touchpoint, 30)
    _race(lambda: action_notices_sweep(now=at(200), batch=4))
    for kind in ("action_reminder", "action_overdue", "action_escalation"):
        assert OutgoingEmail.objects.filter(kind=kind, sent_at__isnull=False).count() == 30
    assert len(mail.outbox) == 90
    assert ActionEvent.objects.filter(kind__in=["reminder", "overdue", "escalated"]).count() == 90


@pytest.mark.django_db(transaction=True)
def test_two_digest_sweeps_racing_send_each_digest_once(org, owner, teammate, touchpoint, settings):
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED row claiming is what is under test; CI runs it on PostgreSQL")
    settings.MAILERS = {"default": {"BACKEND": "tests.test_worker.SlowBackend"}}
    _open_actions(org, owner, touchpoint, 5)
    Action.objects.filter(pk__in=Action.objects.values("pk")[:2]).update(owner=teammate)
    _race(lambda: morning_digests_send(now=datetime(2026, 1, 19, 9, 30, tzinfo=UTC)), n=3)
    assert len(mail.outbox) == 2
    assert OutgoingEmail.objects.filter(kind="digest").count() == 2


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_due_notices_once(org, owner, touchpoint, settings):
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("Runs a real worker against Redis; CI sets REDIS_URL")
    from celery.contrib.testing.worker import start_worker

    from actions.tasks import sweep_action_notices
    from feedback.celery import app

    _open_actions(org, owner, touchpoint, 3)
    # Everything fell due long ago (the actions were opened in January 2026).
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        sweep_action_notices.delay()
        sweep_action_notices.delay()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if (
                Action.objects.filter(escalated_at__isnull=False).count() == 3
                and not OutgoingEmail.objects.filter(sent_at=None)
                .exclude(kind="action_new")
                .exists()
            ):
                break
            time.sleep(0.1)
        time.sleep(0.5)  # let the second sweep finish: it must find nothing to do
    assert Action.objects.filter(escalated_at__isnull=False).count() == 3
    assert OutgoingEmail.objects.filter(kind="action_reminder", sent_at__isnull=False).count() == 3
    assert len([m for m in mail.outbox if "Reminder" in m.subject]) == 3
    assert ActionEvent.objects.filter(kind="escalated").count() == 3
