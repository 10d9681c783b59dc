import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from actions.models import Action
from feedback import wallcache
from feedback.services import wall_entry_publish, wall_entry_unpublish
from tests.factories import make_invitation, make_response, make_touchpoint
from tests.hostile import hostile_strings

from .helpers import make_action, make_done_consented, org_touchpoint

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


@pytest.fixture
def wall_org(org):
    org.wall_enabled = True
    org.save()
    return org


def publish(org, member, **kwargs):
    quote = kwargs.pop("quote", None)
    action, response = make_done_consented(org, **kwargs)
    return wall_entry_publish(
        action=action,
        response=response,
        quote=quote or response.verbatim,
        what_we_did=action.resolution,
        member=member,
        now=timezone.now(),
    )


NONCE = re.compile(r'nonce="[^"]*"')


def without_nonce(html: str) -> str:
    return NONCE.sub('nonce=""', html)


def wall_url(org, name="feedback:wall"):
    return reverse(name, args=[org.slug])


def test_it_404s_when_the_wall_is_off(client, org, owner):
    publish(org, owner)
    for name in ("feedback:wall", "feedback:wall_feed", "feedback:wall_embed"):
        assert client.get(wall_url(org, name)).status_code == 404
    assert client.get("/wall/no-such-business/").status_code == 404


def test_it_404s_at_once_when_the_wall_is_switched_off_with_the_cache_warm(client, wall_org, owner):
    publish(wall_org, owner)
    assert client.get(wall_url(wall_org)).status_code == 200
    wall_org.wall_enabled = False
    wall_org.save()
    assert client.get(wall_url(wall_org)).status_code == 404


def test_it_shows_the_quote_what_we_did_and_first_name_and_initial(client, wall_org, owner):
    publish(
        wall_org,
        owner,
        name="Patricia Jones-Whitfield",
        email="patricia@example.com",
        quote="The chain slipped again […]",
    )
    page = client.get(wall_url(wall_org))
    assert page.status_code == 200
    text = page.text
    assert "The chain slipped again […]" in text
    assert "We replaced the chain and checked the gears for free." in text
    assert "Patricia J." in text
    assert "You said, we did" in text
    assert 'property="og:title"' in text and 'property="og:description"' in text
    assert wall_url(wall_org, "feedback:wall_feed") in text


def test_it_never_shows_an_email_address_or_a_surname(client, wall_org, owner):
    publish(wall_org, owner, name="Patricia Jones-Whitfield", email="patricia@example.com")
    publish(wall_org, owner, name="Dmitri Karamazov", email="dk@example.org")
    for name in ("feedback:wall", "feedback:wall_feed", "feedback:wall_embed"):
        body = client.get(wall_url(wall_org, name)).content.decode()
        assert not EMAIL.search(body), name
        assert "Jones-Whitfield" not in body and "Karamazov" not in body, name
        assert "Dmitri K." in body, name


def test_it_shows_the_headline_figures_over_every_response_and_action(client, wall_org, owner):
    now = timezone.now()
    publish(wall_org, owner)  # one response with a "No", one done action (on time)
    touchpoint = wall_org.touchpoints.first()
    for _ in range(2):
        make_response(make_invitation(touchpoint), answers={0: True})
    make_action(
        wall_org,
        status=Action.Status.OPEN,
        created_ago=timedelta(days=5),
        due_in=timedelta(days=1),
        now=now,
    )
    text = client.get(wall_url(wall_org)).text
    figures = re.sub(r"\s+", " ", text)
    assert "50% — " not in figures  # the figure and its sentence are separate elements
    assert "1 of 2 actions done by the first deadline they were given" in figures
    assert ">50%<" in figures
    assert "not only the ones published here" in figures
    assert "still open past that deadline counts as not kept" in figures
    assert re.search(r"Responses received</dt><dd class=\"figure\">3<", figures)
    assert re.search(r"Raised a problem</dt><dd class=\"figure\">1<", figures)


def test_it_shows_newest_first_and_paginates_and_filters(client, wall_org, owner):
    main = org_touchpoint(wall_org)
    other = make_touchpoint(wall_org, slug="phone-support", name="Phone support")
    for n in range(22):
        publish(wall_org, owner, verbatim=f"Words number {n} here.", touchpoint=main)
    publish(wall_org, owner, verbatim="About the phone call.", touchpoint=other)
    first = client.get(wall_url(wall_org)).text
    assert first.index("About the phone call.") < first.index("Words number 21 here.")
    assert "Page 1 of 2" in first
    second = client.get(wall_url(wall_org) + "?page=2").text
    assert "Words number 0 here." in second and "Words number 21 here." not in second
    filtered = client.get(wall_url(wall_org) + "?touchpoint=phone-support").text
    assert "About the phone call." in filtered and "Words number" not in filtered
    assert client.get(wall_url(wall_org) + "?page=9").status_code == 404
    assert client.get(wall_url(wall_org) + "?touchpoint=nope").status_code == 404
    assert client.get(wall_url(wall_org) + "?page=abc").status_code == 200


def test_it_refreshes_the_cache_on_publish_and_unpublish(client, wall_org, owner):
    entry = publish(wall_org, owner, verbatim="First words.")
    assert "First words." in client.get(wall_url(wall_org)).text
    assert "First words." in client.get(wall_url(wall_org, "feedback:wall_feed")).text
    publish(wall_org, owner, verbatim="Second words.")
    assert "Second words." in client.get(wall_url(wall_org)).text
    assert "Second words." in client.get(wall_url(wall_org, "feedback:wall_feed")).text
    wall_entry_unpublish(entry=entry, member=owner, now=timezone.now())
    for name in ("feedback:wall", "feedback:wall_feed", "feedback:wall_embed"):
        assert "First words." not in client.get(wall_url(wall_org, name)).text


def test_it_takes_an_entry_down_at_once_when_consent_is_withdrawn(client, wall_org, owner):
    entry = publish(wall_org, owner, verbatim="Please do not keep this up.")
    publish(wall_org, owner, verbatim="This one stays.")
    for name in ("feedback:wall", "feedback:wall_feed", "feedback:wall_embed"):
        assert "Please do not keep this up." in client.get(wall_url(wall_org, name)).text
    # What /f/<token>/ does (the actions app): a fact on the response, nothing else.
    entry.response.consent_withdrawn_at = timezone.now()
    entry.response.save(update_fields=["consent_withdrawn_at"])
    for name in ("feedback:wall", "feedback:wall_feed", "feedback:wall_embed"):
        body = client.get(wall_url(wall_org, name)).text
        assert "Please do not keep this up." not in body, name
        assert "This one stays." in body, name


def test_it_serves_a_warm_wall_in_one_query_and_a_cold_one_in_a_fixed_number(
    client, wall_org, owner, django_assert_num_queries, django_assert_max_num_queries
):
    publish(wall_org, owner)
    with django_assert_max_num_queries(14) as cold_small:
        client.get(wall_url(wall_org))
    with django_assert_num_queries(1):
        client.get(wall_url(wall_org))
    for n in range(15):
        publish(wall_org, owner, verbatim=f"More words {n}.")
    with django_assert_max_num_queries(len(cold_small.captured_queries)):
        client.get(wall_url(wall_org))
    for name in ("feedback:wall_embed", "feedback:wall_feed"):
        client.get(wall_url(wall_org, name))
        with django_assert_num_queries(1):
            assert client.get(wall_url(wall_org, name)).status_code == 200


def test_it_puts_this_requests_nonce_on_a_cached_page(client, wall_org, owner):
    publish(wall_org, owner)
    for _ in range(2):
        page = client.get(wall_url(wall_org))
        nonce = re.search(r"'nonce-([^']+)'", page["Content-Security-Policy"]).group(1)
        assert f'<style nonce="{nonce}">' in page.text
        assert "csrftoken" not in page.cookies
        assert page["X-Frame-Options"] == "DENY"


def test_it_never_puts_the_nonce_into_a_quote_that_holds_the_placeholder(client, wall_org, owner):
    # A customer who writes the placeholder must not get the page's nonce into their words:
    # not the old fixed string, and not even this process's own placeholder.
    quote = f"heard-csp-nonce-placeholder and {wallcache.NONCE_PLACEHOLDER} and <b>"
    publish(wall_org, owner, verbatim=quote)
    for name in ("feedback:wall", "feedback:wall_embed"):
        page = client.get(wall_url(wall_org, name))
        nonce = re.search(r"'nonce-([^']+)'", page["Content-Security-Policy"]).group(1)
        assert page.text.count(nonce) == 1, name  # on the <style> tag only
        assert f'<style nonce="{nonce}">' in page.text, name
        assert escape(quote) in page.text, name


def test_it_lets_any_site_frame_the_embed_only(client, wall_org, owner):
    publish(wall_org, owner)
    page = client.get(wall_url(wall_org, "feedback:wall_embed"))
    assert page.status_code == 200
    assert "X-Frame-Options" not in page
    assert "frame-ancestors *" in page["Content-Security-Policy"]
    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in client.get(wall_url(wall_org))["Content-Security-Policy"]


def test_it_serves_an_atom_feed(client, wall_org, owner):
    entry = publish(wall_org, owner)
    page = client.get(wall_url(wall_org, "feedback:wall_feed"))
    assert page.status_code == 200
    assert page["Content-Type"].startswith("application/atom+xml")
    assert f"urn:uuid:{entry.code}" in page.text


@pytest.mark.parametrize("text", hostile_strings("markup"))
def test_it_escapes_hostile_quotes_and_what_we_did(client, wall_org, owner, text):
    action, response = make_done_consented(wall_org, verbatim=text, resolution=text)
    wall_entry_publish(
        action=action,
        response=response,
        quote=text,
        what_we_did=text,
        member=owner,
        now=timezone.now(),
    )
    for name in ("feedback:wall", "feedback:wall_embed"):
        body = client.get(wall_url(wall_org, name)).text
        assert escape(text) in body, name
        if "<" in text:
            assert text not in body, name
    feed = client.get(wall_url(wall_org, "feedback:wall_feed")).text
    if "<" in text:
        assert text not in feed


def test_it_rejects_wrong_methods_on_public_urls(client, wall_org, owner):
    for name in ("feedback:wall", "feedback:wall_feed", "feedback:wall_embed"):
        assert client.post(wall_url(wall_org, name)).status_code == 405


def test_it_shows_the_manage_page_link_on_the_wall_to_nobody(client, wall_org, owner_client, owner):
    publish(wall_org, owner)
    # A logged-in member gets the same public page as everyone (it is cached for everyone).
    # Only the CSP nonce differs, per request.
    assert without_nonce(owner_client.get(wall_url(wall_org)).text) == without_nonce(
        client.get(wall_url(wall_org)).text
    )
    assert reverse("feedback:wall_manage") not in client.get(wall_url(wall_org)).text


@pytest.mark.parametrize("name", ["feedback:wall", "feedback:wall_embed"])
def test_it_never_caches_a_members_flash_message_for_everyone(
    client, wall_org, owner_client, owner, name
):
    entry = publish(wall_org, owner)
    publish(wall_org, owner, verbatim="Still on the wall.")
    # The member's next page would show "Taken off the wall."; they open the cold wall instead.
    unpublish = reverse("feedback:wall_unpublish", args=[entry.code])
    assert owner_client.post(unpublish).status_code == 302
    members_copy = owner_client.get(wall_url(wall_org, name)).text
    assert "Still on the wall." in members_copy
    assert "Taken off the wall." not in members_copy
    assert "Taken off the wall." not in client.get(wall_url(wall_org, name)).text
    assert 'class="messages"' not in client.get(wall_url(wall_org, name)).text
    # Nor is the message used up: the member still sees it on their own next page.
    assert "Taken off the wall." in owner_client.get(reverse("feedback:wall_manage")).text


def test_another_worker_serves_the_shared_copy_only_after_checking_its_quotes(
    client, wall_org, owner, django_assert_num_queries
):
    from feedback import wallcache

    entry = publish(wall_org, owner, verbatim="Shared between workers.")
    publish(wall_org, owner, verbatim="This one stays.")
    assert "Shared between workers." in client.get(wall_url(wall_org)).text
    wallcache.forget_local()  # as a second worker finds it: only the shared copy
    with django_assert_num_queries(2):
        assert "Shared between workers." in client.get(wall_url(wall_org)).text
    wallcache.forget_local()
    entry.response.consent_withdrawn_at = timezone.now()
    entry.response.save(update_fields=["consent_withdrawn_at"])
    body = client.get(wall_url(wall_org)).text
    assert "Shared between workers." not in body
    assert "This one stays." in body


def test_with_a_recheck_interval_a_withdrawn_quote_stays_at_most_that_long(
    client, wall_org, owner, settings, monkeypatch, django_assert_num_queries
):
    from feedback import wallcache

    settings.HEARD = {**settings.HEARD, "WALL_RECHECK_SECONDS": 1}
    clock = [1000.0]
    monkeypatch.setattr(wallcache, "_now", lambda: clock[0])
    entry = publish(wall_org, owner, verbatim="Gone within a second.")
    assert "Gone within a second." in client.get(wall_url(wall_org)).text
    entry.response.consent_withdrawn_at = timezone.now()
    entry.response.save(update_fields=["consent_withdrawn_at"])
    clock[0] += 0.5
    with django_assert_num_queries(0):
        assert "Gone within a second." in client.get(wall_url(wall_org)).text
    clock[0] += 0.6  # the worker asks again, finds the quote withdrawn, renders afresh
    assert "Gone within a second." not in client.get(wall_url(wall_org)).text
