from django.db import migrations, models


def count_live_until_refreshed(apps, schema_editor):
    """The action roll-ups written before these columns hold no first-promise counts: forget
    how far they reach, so the figures are counted live (right, only slower) until the next
    ``refresh_rollups`` sweep rewrites them."""
    apps.get_model("feedback", "ActionRollup").objects.all().delete()
    apps.get_model("feedback", "RollupState").objects.update(actions_from=None)


class Migration(migrations.Migration):
    dependencies = [("feedback", "0005_traffic_until"), ("actions", "0005_first_promise")]

    operations = [
        migrations.AddField(
            model_name="actionrollup",
            name="first_kept",
            field=models.PositiveIntegerField(default=0, help_text="Done by the first deadline."),
        ),
        migrations.AddField(
            model_name="actionrollup",
            name="first_moved",
            field=models.PositiveIntegerField(
                default=0, help_text="Counted against the first deadline, and that deadline moved."
            ),
        ),
        migrations.AddField(
            model_name="actionrollup",
            name="first_promised",
            field=models.PositiveIntegerField(
                default=0, help_text="Counted against the first deadline (its own key day)."
            ),
        ),
        migrations.RunPython(count_live_until_refreshed, migrations.RunPython.noop),
    ]
