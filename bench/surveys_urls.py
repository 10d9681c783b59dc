"""Heard's URLs plus /bench-ok/, a bare view that returns "ok" through the same middleware."""

from django.http import HttpResponse
from django.urls import path

from feedback.urls import urlpatterns as heard_patterns


def ok(request):
    return HttpResponse("ok")


urlpatterns = [path("bench-ok/", ok), *heard_patterns]
