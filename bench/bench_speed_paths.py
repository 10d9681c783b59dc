"""The hand-built read paths against the plain ORM queries they stand for, in one process over
the same rows: the survey page's loads (surveys.queries) and the wall cache's per-request check
(feedback.wallcache._check). Prints microseconds per call for each; the equivalence tests
(tests/surveys/test_speed_paths.py, tests/feedback/test_wall_equivalence.py) hold the plain
versions. Everything it writes is rolled back.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> \\
        .venv/bin/python bench/bench_speed_paths.py
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

N = 2000


def per_call(func) -> float:
    func()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(N):
            func()
        best = min(best, time.perf_counter() - started)
    return best / N * 1e6


def main():
    from accounts.models import Membership, Organisation, User
    from feedback import wallcache
    from feedback.services import wall_entry_publish
    from surveys import queries
    from tests.factories import make_invitation, make_response, make_touchpoint
    from tests.feedback.helpers import make_done_consented
    from tests.feedback.test_wall_equivalence import plain_check
    from tests.surveys.test_speed_paths import plain_interaction, plain_invitation, plain_page_data

    org = Organisation.objects.create(name="Bench shop", slug="bench-speed", wall_enabled=True)
    user = User.objects.create_user(email="bench-owner@example.com", password="x")
    owner = Membership.objects.create(org=org, user=user, role=Membership.Role.OWNER)
    touchpoint = make_touchpoint(org)
    invitation = make_invitation(touchpoint, staff=owner)
    make_response(invitation, answers={0: False, 2: 4, 3: "Online"}, verbatim="Slow")
    ids = []
    for n in range(10):
        action, response = make_done_consented(org, email=f"bench{n}@example.com")
        wall_entry_publish(
            action=action,
            response=response,
            quote=response.verbatim,
            what_we_did="Fixed.",
            member=owner,
            now=timezone.now(),
        )
        ids.append(response.pk)

    def fast_page():
        found = queries.invitation_for_token(invitation.token)
        queries.survey_page_data(found)
        queries.interaction_load(found)

    def plain_page():
        found = plain_invitation(invitation.token)
        plain_page_data(found)
        plain_interaction(found)

    rows = [
        ("survey page loads (3 queries)", fast_page, plain_page),
        (
            "wall check (10 quotes)",
            lambda: wallcache._check(org.slug, ids),
            lambda: plain_check(org.slug, ids),
        ),
    ]
    for name, fast, plain in rows:
        fast_us, plain_us = per_call(fast), per_call(plain)
        print(
            f"{name}: hand-built {fast_us:.0f} µs, plain ORM {plain_us:.0f} µs "
            f"({plain_us / fast_us:.2f}x)"
        )


if __name__ == "__main__":
    call_command("migrate", verbosity=0)
    with transaction.atomic():
        main()
        transaction.set_rollback(True)
