from django.urls import path

from . import views

app_name = "actions"

urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
]
