import accounts.models
from django.db import migrations, models


def existing_tokens_ingest(apps, schema_editor):
    # Tokens made before scopes existed could only send interactions: they keep exactly that.
    ApiToken = apps.get_model("accounts", "ApiToken")
    ApiToken.objects.update(scopes=["ingest"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_webhooks"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="scopes",
            field=models.JSONField(blank=True, default=accounts.models._no_scopes),
        ),
        migrations.RunPython(existing_tokens_ingest, migrations.RunPython.noop),
    ]
