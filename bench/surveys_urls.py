"""Heard's URLs plus /bench-ok/, a bare view that returns "ok" through the same middleware, and
/bench-alone/s/<token>/, the survey page with the actions receiver disconnected, to tell what
surveys itself costs from what the receiver adds."""

from django.http import HttpResponse
from django.urls import path

from actions.receivers import route_submitted_response
from feedback.urls import urlpatterns as heard_patterns
from surveys.signals import response_submitted
from surveys.views import survey_page

RECEIVER = "actions.route_response"


def ok(request):
    return HttpResponse("ok")


def survey_page_alone(request, token):
    # gunicorn's sync workers serve one request at a time, so this doesn't leak into others.
    response_submitted.disconnect(dispatch_uid=RECEIVER)
    try:
        return survey_page(request, token)
    finally:
        response_submitted.connect(route_submitted_response, dispatch_uid=RECEIVER)


urlpatterns = [
    path("bench-ok/", ok),
    path("bench-alone/s/<str:token>/", survey_page_alone),
    *heard_patterns,
]
