from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from . import views
from .api import api

feedback_patterns = (
    [
        path("dashboard/", views.dashboard, name="dashboard"),
        path("dashboard/export/responses.csv", views.export_responses, name="export_responses"),
        path("dashboard/export/actions.csv", views.export_actions, name="export_actions"),
        path("dashboard/wall/", views.wall_manage, name="wall_manage"),
        path(
            "dashboard/wall/publish/<uuid:action_code>/<uuid:invitation_code>/",
            views.wall_publish,
            name="wall_publish",
        ),
        path(
            "dashboard/wall/entries/<uuid:code>/unpublish/",
            views.wall_unpublish,
            name="wall_unpublish",
        ),
        path("dashboard/privacy/", views.privacy_manage, name="privacy"),
        path("dashboard/privacy/export/", views.privacy_export, name="privacy_export"),
        path("dashboard/privacy/erase/", views.privacy_erase, name="privacy_erase"),
        # The business's public privacy notice (?business=<slug>), linked from every survey
        # email and customer page.
        path("privacy/", views.privacy_public, name="privacy_public"),
        path("wall/<slug:slug>/", views.wall, name="wall"),
        path("wall/<slug:slug>/feed/", views.wall_feed, name="wall_feed"),
        path("wall/<slug:slug>/embed/", views.wall_embed, name="wall_embed"),
    ],
    "feedback",
)

# JSON for the API, a plain page in the visitor's language for people; a 503 when the database
# is unreachable.
handler500 = "feedback.errors.handler500"
handler404 = "feedback.errors.handler404"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    # The API (ingest and reads, its OpenAPI document and docs page), ahead of surveys.urls,
    # which still names its old ingest routes (surveys.api explains).
    path("api/v1/", api.urls),
    # Providers' tracking and inbound webhooks (accounts.inbound records what they say).
    path("webhooks/anymail/", include("anymail.urls")),
    path("", include("accounts.urls")),
    path("", include("surveys.urls")),
    path("", include("actions.urls")),
    path("", include(feedback_patterns)),
]

if settings.DEBUG:
    # Only development serves uploads itself (production's web server or storage does).
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
