import pytest
from django.utils import timezone

from actions.models import Action, Kind
from actions.services import action_close
from tests.factories import make_customer, make_touchpoint
from tests.hostile import hostile_strings

STOCK = 0


@pytest.fixture
def mine(routed, owner):
    return routed({STOCK: False}, verbatim="No inner tubes in 26 inch.", staff=owner)


def test_it_shows_my_open_actions_leading_with_the_words(owner_client, mine):
    response = owner_client.get("/inbox/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "No inner tubes in 26 inch." in html
    assert html.index("No inner tubes in 26 inch.") < html.index(mine.customer.public_name)
    assert mine.get_absolute_url() in html


def test_it_separates_mine_team_overdue_and_done(owner_client, owner, teammate, routed):
    routed({STOCK: False}, verbatim="Mine and open", staff=owner)
    routed({STOCK: False}, verbatim="Bob's and open", staff=teammate)
    late = routed({STOCK: False}, verbatim="Long overdue", staff=teammate)
    Action.objects.filter(pk=late.pk).update(due_at=timezone.now() - timezone.timedelta(days=1))
    done = routed({STOCK: False}, verbatim="All done now", staff=owner)
    action_close(
        action=done, actor=owner, status=Action.Status.DONE, resolution="Fixed.", now=timezone.now()
    )

    def words(tab):
        return owner_client.get(f"/inbox/?tab={tab}").content.decode()

    assert "Mine and open" in words("mine") and "Bob&#x27;s and open" not in words("mine")
    assert "Bob&#x27;s and open" in words("team") and "All done now" not in words("team")
    assert "Long overdue" in words("overdue") and "Mine and open" not in words("overdue")
    assert "All done now" in words("done") and "Mine and open" not in words("done")


def test_it_filters_and_searches_the_customers_words(owner_client, owner, org, routed):
    phone = make_touchpoint(org, slug="phone", name="Phone support")
    routed({STOCK: False}, verbatim="The bell rattles", staff=owner)
    routed({STOCK: False}, verbatim="Nobody answered the phone", staff=owner, tp=phone)
    response = owner_client.get(f"/inbox/?touchpoint={phone.code}")
    assert b"Nobody answered" in response.content and b"bell rattles" not in response.content
    response = owner_client.get("/inbox/?q=RATTLES")
    assert b"bell rattles" in response.content and b"Nobody answered" not in response.content
    response = owner_client.get("/inbox/?kind=praise")
    assert b"bell rattles" not in response.content
    response = owner_client.get("/inbox/?due=overdue")
    assert b"bell rattles" not in response.content
    response = owner_client.get("/inbox/?status=open&due=week")
    assert b"bell rattles" in response.content


def test_its_overdue_filter_leaves_out_actions_waiting_on_the_customer(owner_client, owner, routed):
    late = routed({STOCK: False}, verbatim="Late and ours", staff=owner)
    paused = routed({STOCK: False}, verbatim="Late but waiting", staff=owner)
    paused.status = Action.Status.WAITING
    paused.save()
    past = timezone.now() - timezone.timedelta(days=1)
    Action.objects.filter(pk__in=[late.pk, paused.pk]).update(due_at=past)
    for query in ("?due=overdue", "?tab=team&due=overdue", "?tab=overdue"):
        html = owner_client.get(f"/inbox/{query}").content.decode()
        assert "Late and ours" in html and "Late but waiting" not in html, query


def test_it_filters_the_team_tab_by_owner(owner_client, owner, teammate, routed):
    routed({STOCK: False}, verbatim="For Alice", staff=owner)
    routed({STOCK: False}, verbatim="For Bob", staff=teammate)
    response = owner_client.get(f"/inbox/?tab=team&owner={teammate.code}")
    assert b"For Bob" in response.content and b"For Alice" not in response.content


def test_it_answers_htmx_with_only_the_results(owner_client, mine):
    response = owner_client.get("/inbox/?tab=mine", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="results"')
    assert "No inner tubes" in html and "<html" not in html


@pytest.mark.parametrize("size", [5, 25, 100])
def test_it_renders_a_page_in_a_constant_number_of_queries(
    owner_client, owner, org, routed, django_assert_max_num_queries, size
):
    for n in range(12):
        action = routed(
            {STOCK: False}, verbatim=f"Words {n}", staff=owner, customer=make_customer(org)
        )
        action.tags.create(org=org, name=f"tag{n}")
    with django_assert_max_num_queries(10):
        response = owner_client.get(f"/inbox/?tab=team&size={size}")
    assert response.status_code == 200
    assert response.content.count(b'class="card inbox-row"') == min(size, 12)


def test_it_paginates(owner_client, owner, org, routed):
    for n in range(30):
        routed({STOCK: False}, verbatim=f"Words number {n:02d}", staff=owner)
    first = owner_client.get("/inbox/").content.decode()
    second = owner_client.get("/inbox/?page=2").content.decode()
    assert first.count("inbox-row") == 25 and second.count("inbox-row") == 5
    assert "Page 1 of 2" in first


def test_it_shows_only_my_organisations_actions(outsider_client, mine):
    response = outsider_client.get("/inbox/?tab=team")
    assert response.status_code == 200
    assert b"No inner tubes" not in response.content


def test_it_rejects_post(owner_client):
    assert owner_client.post("/inbox/").status_code == 405


def test_it_sends_strangers_to_log_in(client, db):
    response = client.get("/inbox/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_it_escapes_hostile_words_and_searches(owner_client, owner, routed):
    for text in hostile_strings("markup"):
        routed({STOCK: False}, verbatim=text, staff=owner)
    html = owner_client.get("/inbox/?size=100").content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html.lower()
    for text in hostile_strings("markup", "sql_and_paths", "unicode"):
        if "\ud800" <= text[-1:] <= "\udfff" or any("\ud800" <= c <= "\udfff" for c in text):
            continue  # a lone surrogate can't even be put in a URL
        response = owner_client.get("/inbox/", {"q": text})
        assert response.status_code == 200
        assert "<script>alert" not in response.content.decode()


def test_it_marks_kinds(owner_client, owner, routed):
    action = routed({STOCK: False}, verbatim="Great team", staff=owner)
    Action.objects.filter(pk=action.pk).update(kind=Kind.PRAISE)
    assert b"Praise" in owner_client.get("/inbox/").content
