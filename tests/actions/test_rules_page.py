import pytest

from actions.models import RoutingRule
from tests.hostile import hostile_strings


@pytest.fixture
def rules(org, touchpoint):
    from actions.routing import routing_rules_materialise

    return routing_rules_materialise(org=org)


def test_it_shows_the_built_in_rules_to_an_owner(owner_client, org):
    response = owner_client.get("/actions/rules/")
    assert response.status_code == 200
    assert b"built-in rules" in response.content
    assert not RoutingRule.objects.filter(org=org).exists()


def test_staff_get_403_everywhere_on_rules(teammate_client, rules):
    code = rules[0].code
    assert teammate_client.get("/actions/rules/").status_code == 403
    assert teammate_client.get("/actions/rules/new/").status_code == 403
    assert teammate_client.post("/actions/rules/new/", {}).status_code == 403
    assert teammate_client.get(f"/actions/rules/{code}/").status_code == 403
    assert teammate_client.post(f"/actions/rules/{code}/move/", {"up": "1"}).status_code == 403
    assert teammate_client.post(f"/actions/rules/{code}/toggle/").status_code == 403
    assert teammate_client.post("/actions/rules/customise/").status_code == 403


def test_another_organisation_gets_404_on_a_rule(outsider_client, rules):
    code = rules[0].code
    assert outsider_client.get(f"/actions/rules/{code}/").status_code == 404
    assert outsider_client.post(f"/actions/rules/{code}/").status_code == 404
    assert outsider_client.post(f"/actions/rules/{code}/move/").status_code == 404
    assert outsider_client.post(f"/actions/rules/{code}/toggle/").status_code == 404
    assert RoutingRule.objects.get(pk=rules[0].pk).active


def test_it_rejects_wrong_methods(owner_client, rules):
    assert owner_client.post("/actions/rules/").status_code == 405
    assert owner_client.get(f"/actions/rules/{rules[0].code}/toggle/").status_code == 405
    assert owner_client.get(f"/actions/rules/{rules[0].code}/move/").status_code == 405


def test_adding_a_rule_keeps_the_defaults_and_goes_last(owner_client, org, teammate, touchpoint):
    key = touchpoint.survey.current_version().questions.all()[0].key
    response = owner_client.post(
        "/actions/rules/new/",
        {
            "name": "Stock goes to Bob",
            "condition": "no_on_question",
            "question_key": str(key),
            "owner_strategy": "member",
            "members": [teammate.pk],
            "deadline_amount": 4,
            "deadline_unit": "working_hours",
            "kind": "problem",
            "active": "on",
        },
    )
    assert response.status_code == 302
    rules = list(RoutingRule.objects.filter(org=org))
    assert len(rules) == 4 and rules[-1].name == "Stock goes to Bob"
    assert rules[-1].question_key == key and list(rules[-1].members.all()) == [teammate]


def test_it_explains_what_a_rule_is_missing(owner_client, org, outsider):
    response = owner_client.post(
        "/actions/rules/new/",
        {
            "condition": "no_on_question",
            "owner_strategy": "round_robin",
            "members": [outsider.pk],
            "deadline_amount": 2,
            "deadline_unit": "working_days",
            "kind": "problem",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Choose the question." in html
    assert "Select a valid choice" in html  # another business's member isn't offered


def test_it_edits_reorders_and_switches_off(owner_client, rules):
    first, second, third = rules
    owner_client.post(f"/actions/rules/{third.code}/move/", {"up": "1"})
    assert [r.pk for r in RoutingRule.objects.filter(org=first.org)] == [
        first.pk,
        third.pk,
        second.pk,
    ]
    owner_client.post(f"/actions/rules/{first.code}/toggle/", {"active": "0"})
    assert not RoutingRule.objects.get(pk=first.pk).active
    response = owner_client.post(
        f"/actions/rules/{second.code}/",
        {
            "name": "Low ratings",
            "condition": "rating_at_most",
            "threshold": 3,
            "owner_strategy": "touchpoint_owner",
            "deadline_amount": 1,
            "deadline_unit": "working_days",
            "kind": "problem",
            "active": "on",
        },
    )
    assert response.status_code == 302
    assert RoutingRule.objects.get(pk=second.pk).threshold == 3


def test_it_stores_and_escapes_hostile_rule_names(owner_client, org, rules):
    for text in hostile_strings("markup", "spreadsheet_formulas"):
        owner_client.post(
            f"/actions/rules/{rules[0].code}/",
            {
                "name": text,
                "condition": "any_text",
                "owner_strategy": "interaction_staff",
                "deadline_amount": 2,
                "deadline_unit": "working_days",
                "kind": "problem",
                "active": "on",
                "choice": text,
            },
        )
        assert RoutingRule.objects.get(pk=rules[0].pk).name == text.strip()
        assert text.encode() not in owner_client.get("/actions/rules/").content or "<" not in text


def test_it_switches_a_rule_to_the_state_posted_so_a_double_click_does_not_flip_back(
    owner_client, rules
):
    first = rules[0]
    page = owner_client.get("/actions/rules/").content.decode()
    assert 'name="active" value="0"' in page  # the form posts the state it wants
    for _ in range(2):  # a double-click
        response = owner_client.post(f"/actions/rules/{first.code}/toggle/", {"active": "0"})
        assert response.status_code == 302
    assert not RoutingRule.objects.get(pk=first.pk).active
    for _ in range(2):
        owner_client.post(f"/actions/rules/{first.code}/toggle/", {"active": "1"})
    assert RoutingRule.objects.get(pk=first.pk).active
    # Without a state nothing changes.
    owner_client.post(f"/actions/rules/{first.code}/toggle/")
    assert RoutingRule.objects.get(pk=first.pk).active
