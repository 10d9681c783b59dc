from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from surveys.models import Answer, Response
from surveys.signals import response_submitted
from tests.factories import make_invitation, make_response


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()


@pytest.fixture
def invitation(touchpoint, teammate):
    return make_invitation(touchpoint, staff=teammate)


@pytest.fixture
def questions(invitation):
    return list(invitation.survey_version.questions.all())


@pytest.fixture
def signals():
    received = []

    def receiver(sender, response_id, changed, **kwargs):
        received.append((response_id, changed))

    response_submitted.connect(receiver, dispatch_uid="test-receiver")
    yield received
    response_submitted.disconnect(dispatch_uid="test-receiver")


def page(invitation):
    return f"/s/{invitation.token}/"


def test_it_shows_the_questions_with_the_consent_box_unticked(client, invitation, questions):
    response = client.get(page(invitation))
    assert response.status_code == 200
    html = response.content.decode()
    for question in questions:
        assert question.text in html
    assert "You may quote my words publicly, with my first name and initial only." in html
    assert 'name="consent" value="yes">' in html  # not checked
    assert "Bob served you" in html
    assert "0 of 4 answered" in html


def test_the_page_get_takes_three_queries_and_shows_what_was_saved(
    client, invitation, questions, django_assert_num_queries
):
    make_response(invitation, {0: True, 2: 4}, verbatim="Quick & kind", consent=True)
    with django_assert_num_queries(3):  # invitation and co., the visit, questions with answers
        response = client.get(page(invitation))
    html = response.content.decode()
    assert f'name="q-{questions[0].key}" value="yes" checked' in html
    assert f'name="q-{questions[0].key}" value="no">' in html
    assert f'name="q-{questions[2].key}" value="4" checked' in html
    assert "Quick &amp; kind</textarea>" in html
    assert 'name="consent" value="yes" checked' in html
    assert "2 of 4 answered" in html
    assert "Update my answers" in html


def test_a_visit_without_a_staff_member_or_answers_still_loads(
    client, touchpoint, django_assert_num_queries
):
    invitation = make_invitation(touchpoint)
    with django_assert_num_queries(3):
        response = client.get(page(invitation))
    html = response.content.decode()
    assert "You visited us (repair collected)" in html
    assert "0 of 4 answered" in html
    assert "Send my answers" in html


def test_an_email_link_only_preselects_and_a_get_or_head_changes_nothing(
    client, invitation, questions
):
    link = f"{page(invitation)}?q={questions[0].key}&a=no"
    for _ in range(3):
        response = client.get(link)
        assert response.status_code == 200
    assert client.head(link).status_code == 200
    assert Response.objects.count() == 0
    html = response.content.decode()
    assert "You chose: <strong>No</strong>" in html
    assert 'value="no" checked' in html
    # Saved only when the customer presses the button (tests/e2e/test_scanner.py in a browser).
    assert f'name="q" value="{questions[0].key}"' in html
    assert 'name="a" value="no"' in html
    assert "Not sent yet: we save it when you press the button." in html
    assert '<button type="submit">Save my answer</button>' in html


def test_an_email_link_with_a_bogus_value_is_ignored(client, invitation, questions):
    response = client.get(f"{page(invitation)}?q={questions[0].key}&a=<script>")
    assert response.status_code == 200
    assert "You chose" not in response.content.decode()
    assert "<script>&" not in response.content.decode()


def test_one_click_post_saves_the_answer_and_signals_after_commit(
    client, invitation, questions, signals, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(page(invitation), {"q": str(questions[0].key), "a": "no"})
    assert response.status_code == 302
    answer = Answer.objects.get()
    assert answer.yes_no is False
    assert answer.response.submitted_at is not None
    assert signals == [(answer.response_id, False)]


def test_one_click_post_by_fetch_answers_json(client, invitation, questions):
    response = client.post(
        page(invitation), {"q": str(questions[2].key), "a": "4"}, HTTP_X_REQUESTED_WITH="fetch"
    )
    assert response.json() == {"saved": True, "answered": 1, "total": 4}
    assert Answer.objects.get().rating == 4


def test_a_bad_single_answer_is_refused(client, invitation, questions):
    response = client.post(
        page(invitation), {"q": str(questions[2].key), "a": "9"}, HTTP_X_REQUESTED_WITH="fetch"
    )
    assert response.status_code == 400
    assert Answer.objects.count() == 0


def full_form(questions, **extra):
    data = {
        f"q-{questions[0].key}": "no",
        f"q-{questions[1].key}": "yes",
        f"q-{questions[2].key}": "2",
        f"q-{questions[3].key}": "Online",
        "verbatim": "The brake pads were out of stock.",
        "consent": "yes",
    }
    data.update(extra)
    return data


def test_submitting_saves_answers_words_and_consent(
    client,
    invitation,
    questions,
    signals,
    django_capture_on_commit_callbacks,
    django_assert_max_num_queries,
):
    # 8: the first save locks the invitation row and looks again for a response, so a racing
    # autosave can't create a second.
    with django_capture_on_commit_callbacks(execute=True), django_assert_max_num_queries(8):
        response = client.post(page(invitation), full_form(questions))
    assert response.status_code == 302
    assert response["Location"] == f"/s/{invitation.token}/thanks/"
    saved = Response.objects.get()
    assert saved.verbatim == "The brake pads were out of stock."
    assert saved.consent_to_quote is True
    assert saved.survey_version == invitation.survey_version
    assert {a.display_value for a in saved.answers.all()} == {"No", "Yes", "2 of 5", "Online"}
    assert signals == [(saved.pk, False)]
    thanks = client.get(response["Location"])
    assert f"/f/{invitation.token}/" in thanks.content.decode()


def test_a_double_submit_is_harmless(
    client, invitation, questions, signals, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(page(invitation), full_form(questions))
        client.post(page(invitation), full_form(questions))
    assert Response.objects.count() == 1
    assert Answer.objects.count() == 4
    assert len(signals) == 1
    assert Response.objects.get().changed_at is None


def test_answers_can_be_changed_until_expiry(
    client, invitation, questions, signals, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(page(invitation), full_form(questions))
        client.post(page(invitation), full_form(questions, **{f"q-{questions[0].key}": "yes"}))
    saved = Response.objects.get()
    assert saved.changed_at is not None
    assert saved.answers.get(question=questions[0]).yes_no is True
    assert [changed for _, changed in signals] == [False, True]
    invitation.expires_at = timezone.now() - timedelta(seconds=1)
    invitation.save()
    assert client.post(page(invitation), full_form(questions)).status_code == 410
    assert client.get(page(invitation)).status_code == 410


def test_words_over_5000_characters_get_a_clear_message(
    client, invitation, questions, hostile_inputs
):
    limit = hostile_inputs["sizes"]["verbatim_at_limit_chars"]
    over = hostile_inputs["sizes"]["verbatim_over_limit_chars"]
    response = client.post(page(invitation), full_form(questions, verbatim="x" * over))
    assert response.status_code == 400
    assert "the limit is 5,000" in response.content.decode()
    assert Response.objects.count() == 0
    assert (
        client.post(page(invitation), full_form(questions, verbatim="x" * limit)).status_code == 302
    )
    assert len(Response.objects.get().verbatim) == limit


def test_hostile_words_are_stored_as_given_or_refused_and_always_escaped(
    client, invitation, questions
):
    from tests.hostile import hostile_strings

    for text in hostile_strings():
        if text == "\ud83d":
            continue  # not encodable as a form post: no browser can send it
        response = client.post(page(invitation), full_form(questions, verbatim=text))
        if "\x00" in text:
            assert response.status_code == 400
            assert "a null character" in response.content.decode()
            continue
        assert response.status_code == 302, text
        assert Response.objects.get().verbatim == text
        html = client.get(page(invitation)).content.decode()
        assert "<script>alert(1)" not in html
        assert "<img src=x" not in html
        assert "<svg/onload" not in html


def test_every_tampered_token_gets_a_friendly_404(client, invitation, hostile_inputs):
    for token in hostile_inputs["tokens"]:
        for url in (f"/s/{token}/", f"/s/{token}/unsubscribe/", f"/s/{token}/thanks/"):
            response = client.get(url)
            assert response.status_code == 404, token
    tampered = invitation.token[:-1] + ("A" if invitation.token[-1] != "A" else "B")
    response = client.get(f"/s/{tampered}/")
    assert response.status_code == 404
    assert "couldn't find that survey" in response.content.decode()


def test_a_scheduled_invitations_token_opens_nothing(client, touchpoint):
    pending = make_invitation(touchpoint, status="scheduled", sent_at=None, survey_version=None)
    assert client.get(f"/s/{pending.token}/").status_code == 404


def test_guessing_tokens_is_rate_limited(client, invitation, settings):
    settings.HEARD = {**settings.HEARD, "TOKEN_GUESS_LIMIT_PER_MINUTE": 5}
    statuses = [client.get(f"/s/guess{i}/").status_code for i in range(7)]
    assert statuses == [404] * 5 + [429] * 2
    assert client.get(page(invitation)).status_code == 200  # a real link still opens


def test_the_page_rejects_other_methods(client, invitation):
    assert client.put(page(invitation)).status_code == 405
    assert client.post(f"/s/{invitation.token}/thanks/").status_code == 405


def _fresh(invitation):
    """The invitation as a request loads it, with "no response yet" cached on it."""
    from surveys.models import Invitation

    return Invitation.objects.select_related("org", "response").get(pk=invitation.pk)


def test_a_second_first_save_becomes_an_update_not_a_500(
    invitation, questions, signals, django_capture_on_commit_callbacks
):
    from surveys.models import Answer
    from surveys.services import response_save

    first, second = _fresh(invitation), _fresh(invitation)  # both loaded before either saves
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        response_save(
            invitation=first,
            answers={questions[0]: Answer.fields_for(questions[0], "yes")},
            existing={},
            now=now,
        )
        saved, changed = response_save(
            invitation=second,
            answers={questions[1]: Answer.fields_for(questions[1], "yes")},
            existing={},
            verbatim="Quick and friendly.",
            now=now,
        )
    assert changed
    assert Response.objects.count() == 1
    assert saved.pk == Response.objects.get().pk
    assert Response.objects.get().verbatim == "Quick and friendly."
    assert Answer.objects.filter(response=saved).count() == 2


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="two transactions racing for a row lock need PostgreSQL",
)
@pytest.mark.django_db(transaction=True)
def test_two_first_saves_racing_make_one_response(invitation, questions):
    import threading

    from django.db import connections

    from surveys.models import Answer
    from surveys.services import response_save

    barrier = threading.Barrier(2)
    errors = []

    def save(question, value):
        try:
            fresh = _fresh(invitation)
            barrier.wait()
            response_save(
                invitation=fresh,
                answers={question: Answer.fields_for(question, value)},
                existing={},
                now=timezone.now(),
            )
        except Exception as exc:  # the failure is what the test reports
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=save, args=(questions[0], "yes")),
        threading.Thread(target=save, args=(questions[1], "no")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Response.objects.count() == 1
    assert Answer.objects.count() == 2
