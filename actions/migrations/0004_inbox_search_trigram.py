"""Trigram indexes for the inbox's search in the customers' words.

Django's ``icontains`` on PostgreSQL is ``UPPER(col::text) LIKE UPPER('%…%')``, so the indexes
are on that same expression; an index on the bare column would never be used.

PostgreSQL only: SQLite has no pg_trgm, and scans its small development tables quickly anyway.
"""

from django.db import migrations

INDEXES = {
    "action_words_trgm": "words",
    "action_summary_trgm": "summary",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON actions_action USING gin ((UPPER({column}::text)) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("actions", "0003_routing_request")]

    operations = [migrations.RunPython(create, drop)]
