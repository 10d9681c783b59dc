from django.core.management import call_command

from accounts.models import Organisation
from feedback.models import WallEntry
from feedback.services import quote_problem


def test_the_demo_is_idempotent_and_only_publishes_fair_consented_quotes(db):
    call_command("demo", "--json")
    first = list(WallEntry.objects.values_list("pk", "quote"))
    call_command("demo", "--json")
    assert list(WallEntry.objects.values_list("pk", "quote")) == first
    org = Organisation.objects.get(slug="spokes")
    assert org.wall_enabled
    for entry in WallEntry.objects.select_related("response"):
        assert entry.response.may_quote
        assert quote_problem(quote=entry.quote, original=entry.original_quote) is None
