"""Bulk data for the feedback benches, written with INSERT … SELECT generate_series on
PostgreSQL (a million responses in about a minute on two cores). Bench-only."""

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "heard_bench_feedback"


def setup_django(db_name: str = DEFAULT_DB) -> str:
    """Point Django at the bench database (created if missing), migrate, return its URL."""
    sys.path.insert(0, str(ROOT))
    base = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
    url = f"{base}/{db_name}"
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("HEARD_VAR_DIR", f"/tmp/{db_name}")
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.feedback_settings"
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/4")
    # Production-like: no DEBUG query log, plain HTTP on loopback.
    os.environ.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": "bench-only-not-a-secret-" + "x" * 40,
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "SECURE_SSL_REDIRECT": "0",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        }
    )
    _create_database(base, db_name)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def _create_database(base: str, name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(f"{base}/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not cur.fetchone():
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def step(label: str):
    class _Timer:
        def __enter__(self):
            self.started = time.perf_counter()
            print(f"  {label}…", end="", flush=True)

        def __exit__(self, *exc):
            print(f" {time.perf_counter() - self.started:.1f} s", flush=True)

    return _Timer()


def make_business(slug: str, name: str, *, wall: bool = False):
    """An organisation with four members, three touchpoints and one three-question survey."""
    from accounts.models import Membership, Organisation, User
    from surveys.models import Question, Survey, SurveyVersion, Touchpoint

    org = Organisation.objects.create(slug=slug, name=name, wall_enabled=wall)
    members = []
    for n, first in enumerate(["Ada", "Ben", "Cleo", "Dev"]):
        user = User.objects.create_user(
            email=f"{first.lower()}@{slug}.example", password="bench", name=f"{first} Bench"
        )
        role = Membership.Role.OWNER if n == 0 else Membership.Role.STAFF
        members.append(Membership.objects.create(org=org, user=user, role=role))
    survey = Survey.objects.create(org=org, name="After your visit")
    version = SurveyVersion.objects.create(survey=survey, number=1)
    questions = [
        Question.objects.create(
            version=version, position=0, kind="yes_no", text="Was what you needed in stock?"
        ),
        Question.objects.create(
            version=version,
            position=1,
            kind="yes_no",
            text="Did our staff know what they were talking about?",
        ),
        Question.objects.create(
            version=version, position=2, kind="rating", text="How quickly were you served?"
        ),
    ]
    touchpoints = [
        Touchpoint.objects.create(org=org, slug=s, name=n, survey=survey, default_owner=members[0])
        for s, n in [
            ("repair-collected", "Repair collected"),
            ("in-store", "In-store purchase"),
            ("phone", "Phone support"),
        ]
    ]
    return org, members, version, questions, touchpoints


def fill(
    org,
    members,
    version,
    questions,
    touchpoints,
    *,
    invitations: int,
    days: int,
    response_every: int,
    action_every: int,
    consent_every: int = 3,
) -> None:
    """Customers, interactions, invitations, responses (all but every ``response_every``-th
    invitation), three answers each, and an action for every ``action_every``-th response,
    spread evenly over the last ``days`` days."""
    from django.db import connection

    customers = max(1000, invitations // 10)
    p = {
        "org": org.pk,
        "n": invitations,
        "nc": customers,
        "days": days,
        "sv": version.pk,
        "tp1": touchpoints[0].pk,
        "tp2": touchpoints[1].pk,
        "tp3": touchpoints[2].pk,
        "q1": questions[0].pk,
        "q2": questions[1].pk,
        "q3": questions[2].pk,
        "o1": members[0].pk,
        "o2": members[1].pk,
        "o3": members[2].pk,
        "o4": members[3].pk,
        "re": response_every,
        "ae": action_every,
        "ce": consent_every,
    }
    with connection.cursor() as cur:
        with step(f"{customers:,} customers"):
            cur.execute(
                """INSERT INTO surveys_customer (org_id, email, name, locale, created_at,
                       survey_hold, survey_hold_reason)
                   SELECT %(org)s, 'c' || g || '@' || %(org)s || '.bench.example',
                          'Customer' || g || ' Benchsurname', '', now(), false, ''
                   FROM generate_series(1, %(nc)s) g""",
                p,
            )
            cur.execute("SELECT min(id) FROM surveys_customer WHERE org_id = %(org)s", p)
            p["c0"] = cur.fetchone()[0]
        with step(f"{invitations:,} interactions"):
            cur.execute(
                """INSERT INTO surveys_interaction (code, org_id, customer_id, touchpoint_id,
                       occurred_at, metadata, source, created_at)
                   SELECT gen_random_uuid(), %(org)s, %(c0)s + g %% %(nc)s,
                          (ARRAY[%(tp1)s, %(tp2)s, %(tp3)s])[1 + g %% 3],
                          t, '{}', 'demo', t
                   FROM (SELECT g, now() - interval '2 hours'
                                - (g::float8 / %(n)s) * (%(days)s * interval '1 day') AS t
                         FROM generate_series(1, %(n)s) g) s""",
                p,
            )
        with step(f"{invitations:,} invitations"):
            cur.execute(
                """INSERT INTO surveys_invitation (code, org_id, interaction_id, customer_id,
                       survey_version_id, token, status, skip_reason, due_at, sent_at,
                       expires_at, attempts, last_error, created_at)
                   SELECT gen_random_uuid(), %(org)s, i.id, i.customer_id, %(sv)s,
                          'bench' || i.id, 'sent', '', i.occurred_at + interval '1 hour',
                          i.occurred_at + interval '1 hour', i.occurred_at + interval '30 days',
                          1, '', i.occurred_at
                   FROM surveys_interaction i WHERE i.org_id = %(org)s""",
                p,
            )
        with step("responses"):
            cur.execute(
                """INSERT INTO surveys_response (org_id, invitation_id, survey_version_id,
                       customer_id, created_at, submitted_at, verbatim, consent_to_quote)
                   SELECT %(org)s, v.id, %(sv)s, v.customer_id, v.sent_at + interval '20 minutes',
                          v.sent_at + interval '20 minutes',
                          CASE WHEN v.id %% 4 = 0
                               THEN 'The bench customer wrote these words, number ' || v.id
                               ELSE '' END,
                          v.id %% %(ce)s = 0
                   FROM surveys_invitation v
                   WHERE v.org_id = %(org)s AND v.id %% %(re)s <> 0""",
                p,
            )
            print(f" ({cur.rowcount:,})", end="")
        with step("answers"):
            cur.execute(
                """INSERT INTO surveys_answer (response_id, question_id, yes_no, rating, choice,
                       text, answered_at)
                   SELECT r.id, %(q1)s, r.id %% 7 <> 0, NULL::integer, '', '', r.submitted_at
                   FROM surveys_response r WHERE r.org_id = %(org)s
                   UNION ALL
                   SELECT r.id, %(q2)s, r.id %% 5 <> 0, NULL::integer, '', '', r.submitted_at
                   FROM surveys_response r WHERE r.org_id = %(org)s
                   UNION ALL
                   SELECT r.id, %(q3)s, NULL::boolean, 1 + r.id %% 5, '', '', r.submitted_at
                   FROM surveys_response r WHERE r.org_id = %(org)s""",
                p,
            )
            print(f" ({cur.rowcount:,})", end="")
        with step("actions"):
            cur.execute(
                """INSERT INTO actions_action (code, org_id, kind, status, owner_id, customer_id,
                       touchpoint_id, response_id, words, summary, created_at, updated_at, due_at,
                       first_due_at, first_reply_at, closed_at, resolution, reopened_count)
                   SELECT gen_random_uuid(), %(org)s, s.kind, s.status, s.owner, s.customer_id,
                          s.touchpoint_id, s.id, s.verbatim, '', s.at, s.at,
                          s.at + interval '2 days', s.at + interval '1 day',
                          s.at + interval '3 hours',
                          CASE WHEN s.status IN ('done', 'wont_do')
                               THEN s.at + (s.id %% 5) * interval '14 hours' END,
                          CASE WHEN s.status IN ('done', 'wont_do')
                               THEN 'We sorted it out, number ' || s.id ELSE '' END, 0
                   FROM (SELECT r.id, r.customer_id, r.verbatim, r.submitted_at AS at,
                                i.touchpoint_id,
                                CASE WHEN r.id %% 4 = 0 THEN 'suggestion' ELSE 'problem' END
                                    AS kind,
                                CASE WHEN r.submitted_at > now() - interval '3 days' THEN 'open'
                                     WHEN r.id %% 20 = 0 THEN 'wont_do'
                                     WHEN r.id %% 37 = 0 THEN 'in_progress'
                                     ELSE 'done' END AS status,
                                (ARRAY[%(o1)s, %(o2)s, %(o3)s, %(o4)s])[1 + r.id %% 4] AS owner
                         FROM surveys_response r
                         JOIN surveys_invitation v ON v.id = r.invitation_id
                         JOIN surveys_interaction i ON i.id = v.interaction_id
                         WHERE r.org_id = %(org)s AND r.id %% %(ae)s = 0) s""",
                p,
            )
            print(f" ({cur.rowcount:,})", end="")
        with step("tags"):
            from actions.models import Tag

            names = ("stock", "waiting time", "price", "staff", "repair quality")
            tags = [Tag.objects.create(org=org, name=n).pk for n in names]
            cur.execute(
                """INSERT INTO actions_action_tags (action_id, tag_id)
                   SELECT a.id, (%(tags)s::bigint[])[1 + a.id %% 5]
                   FROM actions_action a WHERE a.org_id = %(org)s AND a.id %% 2 = 0""",
                {**p, "tags": tags},
            )
        with step("analyze"):
            cur.execute("ANALYZE")
