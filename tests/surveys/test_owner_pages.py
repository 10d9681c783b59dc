import io

import pytest
from django.core import mail

from surveys.models import Interaction, Invitation, Question, Survey, Touchpoint
from tests.factories import make_invitation, make_response


@pytest.fixture
def urls(survey, touchpoint):
    key = survey.current_version().questions.first().key
    code = survey.code
    return {
        "get": [
            "/surveys/",
            "/surveys/new/",
            "/surveys/invitations/",
            "/surveys/send/",
            "/surveys/import/",
            "/surveys/touchpoints/new/",
            f"/surveys/touchpoints/{touchpoint.code}/",
            f"/surveys/{code}/",
            f"/surveys/{code}/preview/",
            f"/surveys/{code}/preview/email/",
            f"/surveys/{code}/preview/email.html",
        ],
        "object": [
            f"/surveys/touchpoints/{touchpoint.code}/",
            f"/surveys/{code}/",
            f"/surveys/{code}/preview/",
            f"/surveys/{code}/preview/email/",
            f"/surveys/{code}/preview/email.html",
        ],
        "post_only": [
            f"/surveys/{code}/questions/",
            f"/surveys/{code}/questions/{key}/",
            f"/surveys/{code}/questions/{key}/move/",
            f"/surveys/{code}/questions/{key}/delete/",
        ],
    }


def test_every_owner_page_works(owner_client, urls):
    for url in urls["get"]:
        assert owner_client.get(url).status_code == 200, url


def test_another_organisations_owner_gets_404_on_every_object(outsider_client, urls):
    for url in urls["object"] + urls["post_only"]:
        method = outsider_client.post if url in urls["post_only"] else outsider_client.get
        assert method(url).status_code == 404, url


def test_staff_members_cannot_use_the_owner_pages(teammate_client, urls):
    assert teammate_client.get("/surveys/").status_code == 403


def test_post_only_urls_reject_get(owner_client, urls):
    for url in urls["post_only"]:
        assert owner_client.get(url).status_code == 405, url
    assert owner_client.put("/surveys/invitations/").status_code == 405


def test_creating_a_survey_from_the_library(owner_client, org):
    response = owner_client.post("/surveys/new/", {"name": "After a repair", "business": "repair"})
    survey = Survey.objects.get(name="After a repair")
    assert response["Location"] == f"/surveys/{survey.code}/"
    assert survey.current_version().questions.count() == 5


def test_adding_from_templates_stops_at_five_with_the_reason(owner_client, survey):
    url = f"/surveys/{survey.code}/questions/"
    owner_client.post(url, {"template": "retail-quick"})
    response = owner_client.post(url, {"template": "retail-price"}, follow=True)
    assert "Five questions at most" in response.content.decode()
    assert survey.current_version().questions.count() == 5


def test_writing_a_question_and_reordering(owner_client, survey):
    url = f"/surveys/{survey.code}/questions/"
    response = owner_client.post(
        url, {"new-kind": "choice", "new-text": "Which?", "new-choices_text": "A\nB"}
    )
    assert response.status_code == 302
    version = survey.current_version()
    last = version.questions.last()
    assert (last.text, last.choices) == ("Which?", ["A", "B"])
    owner_client.post(f"/surveys/{survey.code}/questions/{last.key}/move/", {"direction": "up"})
    assert list(version.questions.all())[3].key == last.key
    bad = owner_client.post(
        url, {"new-kind": "choice", "new-text": "Only one", "new-choices_text": "A"}
    )
    assert bad.status_code == 400


def test_hostile_question_text_is_stored_and_escaped(owner_client, survey, hostile_inputs):
    key = survey.current_version().questions.first().key
    text = "<script>alert(1)</script>"
    owner_client.post(
        f"/surveys/{survey.code}/questions/{key}/", {f"{key}-kind": "yes_no", f"{key}-text": text}
    )
    assert survey.current_version().questions.first().text == text
    for url in (f"/surveys/{survey.code}/", f"/surveys/{survey.code}/preview/"):
        html = owner_client.get(url).content.decode()
        assert text not in html and "&lt;script&gt;" in html
    nul = owner_client.post(
        f"/surveys/{survey.code}/questions/{key}/",
        {f"{key}-kind": "yes_no", f"{key}-text": "a\x00b"},
    )
    assert nul.status_code == 400


def test_the_email_preview_allows_inline_styles_but_no_scripts(owner_client, survey):
    response = owner_client.get(f"/surveys/{survey.code}/preview/email.html")
    csp = response["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert b"Was what you needed in stock?" in response.content


def test_the_invitations_list_says_why_each_was_not_sent(
    owner_client, touchpoint, django_assert_max_num_queries
):
    for _ in range(5):
        make_invitation(touchpoint)
    make_invitation(touchpoint, status="skipped", skip_reason="fatigue", sent_at=None)
    with django_assert_max_num_queries(8):
        response = owner_client.get("/surveys/invitations/")
    html = response.content.decode()
    assert "Surveyed recently" in html
    assert html.count('class="badge ok">Sent') == 5
    partial = owner_client.get("/surveys/invitations/?status=skipped", HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content and b"Surveyed recently" in partial.content


def test_the_index_lists_without_n_plus_one(
    owner_client, org, touchpoint, django_assert_max_num_queries
):
    from tests.factories import make_survey, make_touchpoint

    for i in range(5):
        make_touchpoint(org, slug=f"tp{i}", survey=make_survey(org, name=f"S{i}"))
    with django_assert_max_num_queries(10):
        assert owner_client.get("/surveys/").status_code == 200


def test_the_index_counts_touchpoints_and_responses_without_multiplying_them(
    owner_client, org, touchpoint, django_assert_num_queries
):
    from surveys.queries import surveys_for_org
    from tests.factories import make_survey, make_touchpoint

    survey = touchpoint.survey
    make_touchpoint(org, slug="visit", survey=survey)
    for _ in range(3):
        make_response(make_invitation(touchpoint))
    make_survey(org, name="Unused")
    counts = {s.name: (s.touchpoint_count, s.response_count) for s in surveys_for_org(org)}
    assert counts == {survey.name: (2, 3), "Unused": (0, 0)}
    assert "DISTINCT" not in str(surveys_for_org(org).query).upper()
    few = _index_queries(owner_client)
    for i in range(5):
        make_touchpoint(org, slug=f"tp{i}", survey=make_survey(org, name=f"S{i}"))
    with django_assert_num_queries(few):  # the same with seven surveys as with two
        html = owner_client.get("/surveys/").content.decode()
    assert "2 touchpoints" in html and "0 touchpoints" in html


def _index_queries(client) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get("/surveys/")
    return len(captured)


def test_send_now_schedules_an_invitation_the_sweep_sends(owner_client, org, touchpoint, teammate):
    from django.utils import timezone

    from surveys.sending import invitations_send_due

    org.quiet_starts = org.quiet_ends  # no quiet hours for this test
    org.save()
    response = owner_client.post(
        "/surveys/send/",
        {
            "email": "Pat@Example.com",
            "name": "Pat",
            "touchpoint": touchpoint.pk,
            "staff": teammate.pk,
        },
    )
    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert invitation.interaction.source == Interaction.Source.FORM
    assert invitation.due_at <= timezone.now()
    invitations_send_due(now=timezone.now())
    assert mail.outbox[0].to == ["pat@example.com"]


def test_send_now_offers_only_this_organisations_touchpoints(owner_client, other_org):
    from tests.factories import make_touchpoint

    theirs = make_touchpoint(other_org)
    response = owner_client.post(
        "/surveys/send/", {"email": "p@example.com", "touchpoint": theirs.pk}
    )
    assert response.status_code == 400
    assert Invitation.objects.count() == 0


def csv_file(text):
    upload = io.BytesIO(text.encode())
    upload.name = "interactions.csv"
    return upload


def test_csv_upload_previews_with_per_row_errors_and_imports_only_when_confirmed(
    owner_client, touchpoint
):
    text = (
        "email,name,touchpoint,staff,occurred_at,reference\n"
        "pat@example.com,Pat,repair,,2026-05-01T14:30:00Z,r1\n"
        "not-an-email,Bad,repair,,,r2\n"
        "sam@example.com,Sam,nope,,,r3\n"
        '=1+1@example.com,"=HYPERLINK(""x"")",repair,,yesterday,r4\n'
        'kim@example.com,"<script>alert(1)</script>",repair,,,r5\n'
    )
    preview = owner_client.post("/surveys/import/", {"file": csv_file(text)})
    html = preview.content.decode()
    assert preview.status_code == 200
    assert Interaction.objects.count() == 0
    assert "2 rows can be imported" in html
    assert "3 rows have errors and will not be imported" in html
    assert "Enter a valid email address" in html and "no touchpoint" in html
    assert "<script>alert(1)</script>" not in html
    assert "Import the 2 good rows, skip 3" in html
    done = owner_client.post("/surveys/import/", {"content": text, "confirm": "yes"}, follow=True)
    assert "Imported 2 interactions; 3 rows with errors were not imported." in done.content.decode()
    assert Interaction.objects.count() == 2
    assert Touchpoint.objects.count() == 1
    again = owner_client.post("/surveys/import/", {"content": text, "confirm": "yes"}, follow=True)
    assert "2 were already recorded" in again.content.decode()
    assert Interaction.objects.count() == 2


def test_csv_rows_for_a_switched_off_touchpoint_are_not_imported(owner_client, touchpoint):
    touchpoint.active = False
    touchpoint.save(update_fields=["active"])
    text = "email,touchpoint\npat@example.com,repair\n"
    preview = owner_client.post("/surveys/import/", {"file": csv_file(text)})
    assert "switched off" in preview.content.decode()
    owner_client.post("/surveys/import/", {"content": text, "confirm": "yes"})
    assert Interaction.objects.count() == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Choose a CSV file"),
        ("name,when\nPat,now\n", "at least email and touchpoint"),
    ],
)
def test_a_csv_that_cannot_be_read_says_why(owner_client, touchpoint, text, message):
    data = {"file": csv_file(text)} if text else {}
    response = owner_client.post("/surveys/import/", data)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_a_touchpoint_can_be_added_and_edited(owner_client, org, survey):
    response = owner_client.post(
        "/surveys/touchpoints/new/",
        {"name": "Phone call", "slug": "phone", "survey": survey.pk, "send_delay_minutes": 30},
    )
    assert response.status_code == 302
    touchpoint = Touchpoint.objects.get(slug="phone")
    dup = owner_client.post(
        "/surveys/touchpoints/new/",
        {"name": "Again", "slug": "phone", "survey": survey.pk, "send_delay_minutes": 30},
    )
    assert dup.status_code == 400
    owner_client.post(
        f"/surveys/touchpoints/{touchpoint.code}/",
        {"name": "Phone support", "slug": "phone", "send_delay_minutes": 5, "active": "on"},
    )
    touchpoint.refresh_from_db()
    assert (touchpoint.name, touchpoint.survey) == ("Phone support", None)


def test_survey_settings_turning_off_the_free_text_box_keeps_old_answers(owner_client, touchpoint):
    survey = touchpoint.survey
    make_response(make_invitation(touchpoint), {0: True}, verbatim="Lovely")
    owner_client.post(f"/surveys/{survey.code}/", {"name": "Renamed", "free_text_prompt": ""})
    survey.refresh_from_db()
    assert survey.name == "Renamed" and survey.active is False
    assert survey.current_version().free_text_prompt == ""
    assert survey.versions.count() == 2
    assert Question.objects.filter(version__survey=survey).count() == 8
