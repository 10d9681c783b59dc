
import django.db.models.deletion
import django.utils.timezone
import surveys.models
from django.db import migrations, models


def fill_public_codes(apps, schema_editor):
    Touchpoint = apps.get_model("surveys", "Touchpoint")
    for touchpoint in Touchpoint.objects.filter(public_code=None).only("pk"):
        touchpoint.public_code = surveys.models.new_public_code()
        touchpoint.save(update_fields=["public_code"])


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
        ('surveys', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='HearBack',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('email', models.EmailField(max_length=254)),
                ('token', models.CharField(default=surveys.models.new_token, max_length=64, unique=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('expires_at', models.DateTimeField()),
                ('confirmed_at', models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.CreateModel(
            name='RetiredPublicCode',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code', models.CharField(max_length=32, unique=True)),
                ('retired_at', models.DateTimeField()),
            ],
        ),
        migrations.RemoveConstraint(
            model_name='customer',
            name='customer_unique_email_per_org',
        ),
        migrations.AddField(
            model_name='response',
            name='channel',
            field=models.CharField(choices=[('email', 'Email'), ('link', 'Link'), ('qr', 'QR code'), ('website', 'Website'), ('kiosk', 'Kiosk')], default='email', max_length=10),
        ),
        migrations.AddField(
            model_name='response',
            name='held_reason',
            field=models.CharField(blank=True, choices=[('daily_cap', "Over the touchpoint's daily limit"), ('honeypot', "A field people can't see was filled in"), ('too_fast', 'Sent faster than a person could read the page'), ('stale_form', "The page's timestamp was missing, forged or a day old")], max_length=20),
        ),
        migrations.AddField(
            model_name='response',
            name='released_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='response',
            name='released_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='accounts.membership'),
        ),
        # Existing touchpoints each get their own code: a callable default would be evaluated
        # once for the whole table, so add the column empty, fill it row by row, then tighten.
        migrations.AddField(
            model_name='touchpoint',
            name='public_code',
            field=models.CharField(max_length=32, null=True),
        ),
        migrations.RunPython(fill_public_codes, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='touchpoint',
            name='public_code',
            field=models.CharField(default=surveys.models.new_public_code, max_length=32, unique=True),
        ),
        migrations.AddField(
            model_name='touchpoint',
            name='public_daily_cap',
            field=models.PositiveIntegerField(default=200, help_text='Answers through the public link per day before the rest are held for you to review (you get one email that day).'),
        ),
        migrations.AlterField(
            model_name='interaction',
            name='source',
            field=models.CharField(choices=[('api', 'API'), ('csv', 'CSV upload'), ('form', 'Form'), ('demo', 'Demo data'), ('public', 'Public link')], default='api', max_length=10),
        ),
        migrations.AlterField(
            model_name='invitation',
            name='status',
            field=models.CharField(choices=[('scheduled', 'Scheduled'), ('sent', 'Sent'), ('skipped', 'Not sent'), ('failed', 'Failed'), ('public', 'Answered through a public link')], default='scheduled', max_length=10),
        ),
        migrations.AddIndex(
            model_name='response',
            index=models.Index(condition=models.Q(models.Q(('held_reason', ''), _negated=True), ('released_at', None)), fields=['org', '-created_at'], name='response_held'),
        ),
        migrations.AddConstraint(
            model_name='customer',
            constraint=models.UniqueConstraint(condition=models.Q(('email', ''), _negated=True), fields=('org', 'email'), name='customer_unique_email_per_org'),
        ),
        migrations.AddField(
            model_name='hearback',
            name='response',
            field=models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='hear_back', to='surveys.response'),
        ),
        migrations.AddField(
            model_name='retiredpubliccode',
            name='touchpoint',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='retired_codes', to='surveys.touchpoint'),
        ),
    ]
