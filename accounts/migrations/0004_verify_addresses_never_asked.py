"""Email verification becomes mandatory at login. People who were never asked to verify
(superusers from createsuperuser, users made in the admin or by scripts: no EmailAddress row
at all) would be locked out by it; their address was set by an operator, so it is marked
verified. Self-service sign-ups that never clicked their link keep an unverified row and are
asked again at their next login."""

from django.db import migrations


def verify_addresses_never_asked(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    EmailAddress = apps.get_model("account", "EmailAddress")
    never_asked = User.objects.exclude(pk__in=EmailAddress.objects.values("user_id")).only(
        "pk", "email"
    )
    EmailAddress.objects.bulk_create(
        [
            EmailAddress(user_id=user.pk, email=user.email, verified=True, primary=True)
            for user in never_asked.iterator()
        ],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_outgoing_email_claim"),
        ("account", "0009_emailaddress_unique_primary_email"),
    ]

    operations = [migrations.RunPython(verify_addresses_never_asked, migrations.RunPython.noop)]
