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
    path("settings/profile/", views.profile, name="profile"),
    path("join/<str:token>/", views.join, name="join"),
    # Uploaded logos, at the address their ImageField .url gives (MEDIA_URL is /media/).
    path("media/logos/<str:name>", views.logo, name="logo"),
    path("welcome/", views.no_business, name="no_business"),
]
