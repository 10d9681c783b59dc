from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from . import views

feedback_patterns = (
    [
        path("dashboard/", views.dashboard, name="dashboard"),
        path("wall/<slug:slug>/", views.wall, name="wall"),
    ],
    "feedback",
)

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("", include("surveys.urls")),
    path("", include("actions.urls")),
    path("", include(feedback_patterns)),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
