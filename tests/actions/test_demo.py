from django.core.management import call_command

from actions.models import Action, ActionEvent, LoopMessage, RoutingRule


def test_the_demo_leaves_actions_in_varied_states_and_is_idempotent(db, capsys):
    call_command("demo", "--force")
    first = (Action.objects.count(), ActionEvent.objects.count(), LoopMessage.objects.count())
    call_command("demo", "--force")
    assert (
        Action.objects.count(),
        ActionEvent.objects.count(),
        LoopMessage.objects.count(),
    ) == first
    statuses = sorted(Action.objects.values_list("status", flat=True))
    assert statuses.count("done") == 2 and "wont_do" in statuses and "in_progress" in statuses
    assert statuses.count("open") >= 2
    from django.utils import timezone

    assert Action.objects.overdue(timezone.now()).exists()
    assert Action.objects.open().filter(due_at__gt=timezone.now()).exists()
    done = Action.objects.filter(status="done")
    assert all(a.resolution and a.loop_messages.exists() for a in done)
    assert any(m.response.may_quote for m in LoopMessage.objects.filter(action__in=done))
    assert ActionEvent.objects.filter(kind="note", action__status="in_progress").exists()
    stock = RoutingRule.objects.get(name="Out of stock goes to Priya")
    assert stock.members.get().user.email == "priya@spokes.example"
    assert Action.objects.filter(rule=stock, owner=stock.members.get()).exists()
