from datetime import datetime

from django.db import migrations, models


def shift_first_promises(apps, schema_editor):
    """``first_due_at`` now moves on by time spent waiting on the customer, as ``due_at``
    always did: replay the pauses already in the history (each resumed clock left a "paused"
    deadline change with its from and to), and record the shift as new pauses do."""
    Action = apps.get_model("actions", "Action")
    ActionEvent = apps.get_model("actions", "ActionEvent")
    pauses = ActionEvent.objects.filter(kind="deadline_changed", data__paused=True).order_by(
        "action_id", "created_at", "id"
    )
    for event in pauses.iterator(chunk_size=1000):
        if "first_from" in event.data:
            continue
        waited = datetime.fromisoformat(event.data["to"]) - datetime.fromisoformat(
            event.data["from"]
        )
        action = Action.objects.only("first_due_at").get(pk=event.action_id)
        shifted = action.first_due_at + waited
        event.data = {
            **event.data,
            "first_from": action.first_due_at.isoformat(),
            "first_to": shifted.isoformat(),
        }
        event.save(update_fields=["data"])
        Action.objects.filter(pk=action.pk).update(first_due_at=shifted)


class Migration(migrations.Migration):
    dependencies = [("actions", "0004_inbox_search_trigram")]

    operations = [
        migrations.AlterField(
            model_name="action",
            name="first_due_at",
            field=models.DateTimeField(
                help_text="The deadline first promised (plus any time spent waiting on the "
                "customer)."
            ),
        ),
        migrations.AddIndex(
            model_name="action",
            index=models.Index(
                fields=["org", "status", "first_due_at"], name="action_org_status_first"
            ),
        ),
        migrations.RunPython(shift_first_promises, migrations.RunPython.noop),
    ]
