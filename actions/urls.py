from django.urls import path

from . import views

app_name = "actions"

urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("actions/rules/", views.rules, name="rules"),
    path("actions/rules/new/", views.rule_edit, name="rule_new"),
    path("actions/rules/customise/", views.rules_customise, name="rules_customise"),
    path("actions/rules/<uuid:code>/", views.rule_edit, name="rule_edit"),
    path("actions/rules/<uuid:code>/move/", views.rule_move, name="rule_move"),
    path("actions/rules/<uuid:code>/toggle/", views.rule_toggle, name="rule_toggle"),
    path("actions/causes/", views.causes, name="causes"),
    path("actions/causes/<uuid:code>/", views.cause_edit, name="cause_edit"),
    path("actions/<uuid:code>/", views.detail, name="detail"),
    path("actions/<uuid:code>/note/", views.note, name="note"),
    path("actions/<uuid:code>/reassign/", views.reassign, name="reassign"),
    path("actions/<uuid:code>/deadline/", views.deadline, name="deadline"),
    path("actions/<uuid:code>/status/", views.status, name="status_set"),
    path("actions/<uuid:code>/tags/", views.tags, name="tags"),
    path("actions/<uuid:code>/close/", views.close, name="close"),
    path("actions/<uuid:code>/link/", views.link, name="link"),
    path("actions/<uuid:code>/tell/", views.tell, name="tell"),
    # The customer's own pages, opened by their invitation's token.
    path("f/<str:token>/", views.status_page, name="status"),
    path("f/<str:token>/consent/", views.withdraw_consent, name="withdraw_consent"),
    path("f/<str:token>/sorted/", views.sorted_page, name="sorted"),
    path("f/<str:token>/still-sorted/", views.still_sorted_page, name="still_sorted"),
]
