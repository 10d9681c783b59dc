import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import demo as accounts_demo
from accounts.demo import PASSWORD
from actions import demo as actions_demo
from surveys import demo as surveys_demo

from ... import demo as feedback_demo


class Command(BaseCommand):
    help = "Create (or refresh) the demo business, its people and sample data. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even with DEBUG off. The demo logins use a password printed in the README.",
        )

    def handle(self, *args, **options):
        # The demo owner's password is public: on a real site it is an open door.
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "DEBUG is off, so this looks like a real site: the demo creates logins whose "
                "password is published in the README. Refusing. Use --force if you really "
                "want the demo business here."
            )
        with transaction.atomic():
            people = accounts_demo.seed()
            touchpoints = surveys_demo.seed(people)
            actions_demo.seed(people, touchpoints)
            feedback_demo.seed(people, touchpoints)
        summary = {
            "org_slug": people.org.slug,
            "owner": {"email": people.owner.user.email, "password": PASSWORD},
            "staff": [{"email": m.user.email, "password": PASSWORD} for m in people.staff],
            "api_token": people.api_token,
            "touchpoints": [{"slug": t.slug, "name": t.name} for t in touchpoints],
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        self.stdout.write(self.style.SUCCESS(f"Demo business: {people.org.name}"))
        self.stdout.write(f"  Owner login:  {summary['owner']['email']} / {PASSWORD}")
        for staff in summary["staff"]:
            self.stdout.write(f"  Staff login:  {staff['email']} / {PASSWORD}")
        self.stdout.write(f"  API token:    {people.api_token}")
        self.stdout.write("  Touchpoints:  " + ", ".join(t["slug"] for t in summary["touchpoints"]))
