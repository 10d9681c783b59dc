from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("settings/", views.settings_page, name="settings"),
    path("settings/members/", views.members, name="members"),
    path("settings/members/invite/", views.invite_create, name="invite_create"),
    path("settings/invites/<uuid:code>/resend/", views.invite_resend, name="invite_resend"),
    path("settings/invites/<uuid:code>/revoke/", views.invite_revoke, name="invite_revoke"),
    path("settings/members/<uuid:code>/role/", views.member_role, name="member_role"),
    path("settings/members/<uuid:code>/remove/", views.member_remove, name="member_remove"),
    path("settings/tokens/", views.tokens, name="tokens"),
    path("settings/tokens/<uuid:code>/revoke/", views.token_revoke, name="token_revoke"),
    path("settings/integrations/", views.integrations, name="integrations"),
    path(
        "settings/integrations/<uuid:code>/",
        views.integration_detail,
        name="integration_detail",
    ),
    path(
        "settings/integrations/<uuid:code>/rotate/",
        views.integration_rotate,
        name="integration_rotate",
    ),
    path(
        "settings/integrations/<uuid:code>/switch/",
        views.integration_switch,
        name="integration_switch",
    ),
    path(
        "settings/integrations/<uuid:code>/delete/",
        views.integration_delete,
        name="integration_delete",
    ),
    path(
        "settings/integrations/<uuid:code>/test/", views.integration_test, name="integration_test"
    ),
    path(
        "settings/integrations/deliveries/<uuid:code>/replay/",
        views.delivery_replay,
        name="delivery_replay",
    ),
    path("settings/profile/", views.profile, name="profile"),
    path("join/<str:token>/", views.join, name="join"),
    # Uploaded logos, at the address their ImageField .url gives (MEDIA_URL is /media/).
    path("media/logos/<str:name>", views.logo, name="logo"),
    path("welcome/", views.no_business, name="no_business"),
]
