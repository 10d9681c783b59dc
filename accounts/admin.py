from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from .models import ApiToken, Membership, Organisation, OutgoingEmail, StaffInvite, User


def admin_login(request, extra_context=None):
    """/admin/login/ sends people to Heard's own login, which has the failed-login limits,
    the lockout and the two-factor step; Django's admin login form has none of them."""
    if request.user.is_authenticated:
        # Logged in but not staff: the normal login would send them straight back here.
        raise PermissionDenied("This account can't use the admin.")
    next_url = request.GET.get("next") or reverse("admin:index")
    return redirect_to_login(next_url, login_url=reverse("account_login"))


admin.site.login = admin_login


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_active", "is_staff", "date_joined"]
    search_fields = ["email", "name"]
    fieldsets = [
        (None, {"fields": ["email", "password", "name"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    filter_horizontal = ["groups"]
    list_filter = ["is_active", "is_staff"]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "timezone", "wall_enabled", "created_at"]
    search_fields = ["name", "slug"]
    readonly_fields = ["code", "created_at"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "org", "role", "created_at"]
    list_filter = ["role"]
    list_select_related = ["user", "org"]
    search_fields = ["user__email", "org__name"]
    raw_id_fields = ["user", "org"]


@admin.register(StaffInvite)
class StaffInviteAdmin(admin.ModelAdmin):
    list_display = ["email", "org", "role", "created_at", "expires_at", "accepted_at", "revoked_at"]
    list_select_related = ["org"]
    search_fields = ["email", "org__name"]
    # The hash is useless to a reader and the raw token was never stored.
    exclude = ["token_hash"]
    readonly_fields = ["code", "invited_by", "created_at", "accepted_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "org", "hint", "created_at", "last_used_at", "revoked_at"]
    list_select_related = ["org"]
    exclude = ["token_hash"]
    readonly_fields = ["code", "hint", "created_by", "created_at", "last_used_at"]


@admin.register(OutgoingEmail)
class OutgoingEmailAdmin(admin.ModelAdmin):
    list_display = ["kind", "to", "subject", "created_at", "sent_at", "attempts", "failed_at"]
    list_filter = ["kind"]
    search_fields = ["to", "key", "subject"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in OutgoingEmail._meta.fields]
