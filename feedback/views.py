from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.decorators import owner_required

from . import health
from .models import Heartbeat


def home(request):
    if request.user.is_authenticated and request.member:
        return redirect("feedback:dashboard" if request.member.is_owner else "actions:inbox")
    if request.user.is_authenticated:
        return redirect("accounts:no_business")
    return render(request, "feedback/home.html")


@require_GET
@never_cache
def healthz(request):
    db_ok, db_detail = health.database_ok()
    broker_ok, broker_detail = health.broker_ok()
    body = {
        "status": "ok" if db_ok and broker_ok else "unavailable",
        "database": db_detail,
        "broker": broker_detail,
    }
    if db_ok:
        beat = Heartbeat.objects.filter(name="beat").first()
        body["last_heartbeat_seconds_ago"] = (
            round((timezone.now() - beat.beat_at).total_seconds()) if beat else None
        )
    return JsonResponse(body, status=200 if db_ok and broker_ok else 503)


@owner_required
def dashboard(request):
    return render(request, "feedback/dashboard.html", {"org": request.member.org})


def wall(request, slug):
    from django.http import Http404

    from accounts.models import Organisation

    org = Organisation.objects.filter(slug=slug, wall_enabled=True).first()
    if org is None:
        raise Http404("This business has no public wall.")
    return render(request, "feedback/wall.html", {"org": org})
