import pytest
from django.core.management import CommandError, call_command

from accounts.models import Organisation
from feedback.models import WallEntry
from feedback.services import quote_problem


def test_the_demo_is_idempotent_and_only_publishes_fair_consented_quotes(db):
    call_command("demo", "--json", "--force")
    first = list(WallEntry.objects.values_list("pk", "quote"))
    call_command("demo", "--json", "--force")
    assert list(WallEntry.objects.values_list("pk", "quote")) == first
    org = Organisation.objects.get(slug="spokes")
    assert org.wall_enabled
    for entry in WallEntry.objects.select_related("response"):
        assert entry.response.may_quote
        assert quote_problem(quote=entry.quote, original=entry.original_quote) is None


def test_it_refuses_to_run_with_debug_off_unless_forced(db, settings, capsys):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--force"):
        call_command("demo")
    assert not Organisation.objects.filter(slug="spokes").exists()
    call_command("demo", "--force")
    assert Organisation.objects.filter(slug="spokes").exists()


def test_it_runs_without_force_when_debug_is_on(db, settings, capsys):
    settings.DEBUG = True
    call_command("demo", "--json")
    assert Organisation.objects.filter(slug="spokes").exists()
