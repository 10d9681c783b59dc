from django.urls import path

from . import views

app_name = "surveys"

urlpatterns = [
    # The owner's pages.
    path("surveys/", views.index, name="index"),
    path("surveys/new/", views.survey_new, name="survey_new"),
    path("surveys/invitations/", views.invitations, name="invitations"),
    path("surveys/send/", views.send_now, name="send_now"),
    path("surveys/import/", views.csv_import, name="csv_import"),
    path("surveys/touchpoints/new/", views.touchpoint_new, name="touchpoint_new"),
    path("surveys/touchpoints/<uuid:code>/", views.touchpoint_edit, name="touchpoint"),
    path(
        "surveys/touchpoints/<uuid:code>/qr.svg",
        views.touchpoint_qr,
        {"kind": "svg"},
        name="touchpoint_qr_svg",
    ),
    path(
        "surveys/touchpoints/<uuid:code>/qr.png",
        views.touchpoint_qr,
        {"kind": "png"},
        name="touchpoint_qr_png",
    ),
    path("surveys/touchpoints/<uuid:code>/poster/", views.touchpoint_poster, name="poster"),
    path("surveys/touchpoints/<uuid:code>/rotate/", views.touchpoint_rotate, name="rotate"),
    path(
        "surveys/touchpoints/<uuid:code>/held/<uuid:invitation_code>/release/",
        views.held_release,
        name="held_release",
    ),
    path("surveys/<uuid:code>/", views.survey_detail, name="survey"),
    path("surveys/<uuid:code>/questions/", views.question_add, name="question_add"),
    path("surveys/<uuid:code>/questions/<uuid:key>/", views.question_edit, name="question_edit"),
    path(
        "surveys/<uuid:code>/questions/<uuid:key>/move/", views.question_move, name="question_move"
    ),
    path(
        "surveys/<uuid:code>/questions/<uuid:key>/delete/",
        views.question_delete,
        name="question_delete",
    ),
    path("surveys/<uuid:code>/preview/", views.survey_preview, name="preview"),
    path("surveys/<uuid:code>/preview/email/", views.survey_preview_email, name="preview_email"),
    path(
        "surveys/<uuid:code>/preview/email.html",
        views.survey_preview_email_html,
        name="preview_email_html",
    ),
    # The customer's pages: the token is the only key.
    path("s/<str:token>/", views.survey_page, name="page"),
    path("s/<str:token>/thanks/", views.thanks, name="thanks"),
    path("s/<str:token>/unsubscribe/", views.unsubscribe, name="unsubscribe"),
    # The public link: anyone may answer (a QR poster, the website, a kiosk by the door).
    path("t/hear-back/<str:token>/", views.hear_back, name="hear_back"),
    path("t/<str:code>/", views.public_page, name="public"),
    path("t/<str:code>/thanks/", views.public_thanks, name="public_thanks"),
]
# The API (ingest and reads) is one django-ninja API mounted by feedback/urls.py at /api/v1/.
