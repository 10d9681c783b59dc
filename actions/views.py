import uuid
from datetime import timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import member_required, owner_required
from surveys import languages, tokens
from surveys.models import ErasureRequest, Response
from surveys.privacy import erasure_request_record

from . import forms, queries, routing, services
from .models import Action, ActionEvent, ActionResponse, Cause, FollowUp, LoopMessage, RoutingRule
from .services import ActionError

PAGE_SIZE = 25


def _get_action_for_member(request, code) -> Action:
    """The action of the member's business with this code; another business's is a 404."""
    return get_object_or_404(
        Action.objects.select_related(
            "org", "owner__user", "customer", "touchpoint", "closed_by__user", "merged_into"
        ),
        org=request.member.org,
        code=code,
    )


def _get_rule_for_owner(request, code) -> RoutingRule:
    return get_object_or_404(RoutingRule, org=request.member.org, code=code)


# Inbox ------------------------------------------------------------------------------------


@member_required
@require_GET
def inbox(request):
    member = request.member
    now = timezone.now()
    filters = queries.InboxFilters.from_query(request.GET)
    try:
        page_size = min(max(int(request.GET.get("size", PAGE_SIZE)), 1), 100)
    except ValueError:
        page_size = PAGE_SIZE
    actions = queries.inbox_actions(member=member, filters=filters, now=now)
    counts = queries.inbox_counts(member=member, now=now)
    paginator = Paginator(actions, page_size)
    if not filters.narrowed:
        # The tab's count is already known: don't count tens of thousands of rows twice.
        paginator.count = counts[filters.tab]
    page = paginator.get_page(request.GET.get("page"))
    labels = {"mine": _("Mine"), "team": _("Team"), "overdue": _("Overdue"), "done": _("Done")}
    context = {
        "org": member.org,
        "filters": filters,
        "page": page,
        "now": now,
        "tabs": [
            (key, label, counts[key], filters.querystring(tab=key)) for key, label in labels.items()
        ],
    }
    if request.headers.get("HX-Request"):
        return render(request, "actions/inbox.html#results", context)
    context.update(queries.inbox_choices(org=member.org))
    return render(request, "actions/inbox.html", context)


# One action -------------------------------------------------------------------------------


def _detail_context(request, action, **forms_in_play) -> dict:
    org = request.member.org
    now = timezone.now()
    found = queries.action_context(action=action)
    late_change = found["late_change"]
    late_note_form = None
    if late_change is not None:
        subject, body = services.late_note_draft(
            action=action, change=late_change, member=request.member
        )
        late_note_form = forms.LateNoteForm(
            initial={"change": late_change.pk, "subject": subject, "body": body}
        )
    context = {
        "action": action,
        "org": org,
        "now": now,
        # Close to the deadline and not started: time to write to the customer, before the
        # promise breaks rather than after.
        "write_prompt": action.status == Action.Status.OPEN
        and action.reminder_due_at is not None
        and action.reminder_due_at <= now,
        "note_form": forms.NoteForm(),
        "reassign_form": forms.ReassignForm(org=org, initial={"owner": action.owner}),
        "deadline_form": forms.DeadlineForm(org=org, reachable=action.customer_reachable),
        "late_note_form": late_note_form,
        "late_recipients": services.late_note_recipients(action) if late_change else [],
        # The late-note composer says which language it drafts in, and previews in it.
        **_draft_language_context(action),
        "tags_form": forms.TagsForm(initial={"tags": ", ".join(t.name for t in action.tags.all())}),
        "close_form": forms.CloseForm(action=action),
        "link_form": forms.LinkForm(),
        "statuses": [(s, s.label) for s in Action.OPEN_STATUSES],
        "recipients": services.loop_recipients(action) if not action.is_open else [],
        **found,
        **queries.merge_candidates(action=action),
        # Open problems told in other words: link them, and closing this tells them all.
        "similar": queries.similar_open_actions(action=action, now=now) if action.is_open else [],
    }
    context.update(forms_in_play)
    return context


@member_required
@require_GET
def detail(request, code):
    action = _get_action_for_member(request, code)
    return render(request, "actions/detail.html", _detail_context(request, action))


def _post_form(request, action, form, apply, name: str, done: str):
    """Validate ``form``; apply the change; on a bad form or a refused change, show the page
    again with the errors next to the form."""
    if form.is_valid():
        try:
            with transaction.atomic():
                apply(form.cleaned_data)
        except ActionError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, done)
            return redirect(action)
    context = _detail_context(request, action, **{name: form})
    return render(request, "actions/detail.html", context, status=400)


@member_required
@require_POST
def note(request, code):
    action = _get_action_for_member(request, code)
    return _post_form(
        request,
        action,
        forms.NoteForm(request.POST),
        lambda d: services.action_note_add(
            action=action, actor=request.member, text=d["text"], now=timezone.now()
        ),
        "note_form",
        _("Note added."),
    )


@member_required
@require_POST
def reassign(request, code):
    action = _get_action_for_member(request, code)
    return _post_form(
        request,
        action,
        forms.ReassignForm(request.POST, org=request.member.org),
        lambda d: services.action_reassign(
            action=action,
            actor=request.member,
            owner=d["owner"],
            reason=d["reason"],
            now=timezone.now(),
        ),
        "reassign_form",
        _("Reassigned."),
    )


@member_required
@require_POST
def deadline(request, code):
    """Move the deadline; with ``change`` posted, preview or send the note to the customer
    about a move already made (the action page offers it until it is sent)."""
    action = _get_action_for_member(request, code)
    if "change" in request.POST:
        return _late_note(request, action)
    form = forms.DeadlineForm(
        request.POST, org=request.member.org, reachable=action.customer_reachable
    )
    done = _("Deadline changed.")
    if action.customer_reachable:
        done = _("Deadline changed. Now tell the customer: the note is below, ready to edit.")
    return _post_form(
        request,
        action,
        form,
        lambda d: services.action_deadline_change(
            action=action,
            actor=request.member,
            due_at=d["due_at"],
            reason=d["reason"],
            customer_reason=d["customer_reason"],
            now=timezone.now(),
        ),
        "deadline_form",
        done,
    )


def _late_note(request, action):
    """The note about a moved deadline: previewed, then queued once per change."""
    form = forms.LateNoteForm(request.POST)
    change = None
    if form.is_valid():
        change = action.events.filter(
            pk=form.cleaned_data["change"], kind=ActionEvent.Kind.DEADLINE_CHANGED
        ).first()
        if change is None:
            form.add_error(None, _("Choose a deadline change of this action."))
    if form.is_valid() and request.POST.get("send"):
        try:
            with transaction.atomic():
                told = services.late_note_send(
                    action=action,
                    change=change,
                    actor=request.member,
                    subject=form.cleaned_data["subject"],
                    body=form.cleaned_data["body"],
                    now=timezone.now(),
                )
        except ActionError as error:
            form.add_error(None, str(error))
        else:
            if told:
                messages.success(request, _("Your note is on its way."))
            else:  # a double submit or a retry: the first one already told them
                messages.info(request, _("The customer has already been told about this change."))
            return redirect(action)
    context = _detail_context(request, action, late_note_form=form)
    if form.is_valid():
        context["late_preview"] = form.cleaned_data
    return render(request, "actions/detail.html", context, status=200 if form.is_valid() else 400)


@member_required
@require_POST
def status(request, code):
    action = _get_action_for_member(request, code)
    form = forms.StatusForm(request.POST)
    if not form.is_valid():
        return render(request, "actions/detail.html", _detail_context(request, action), status=400)
    try:
        services.action_status_set(
            action=action,
            actor=request.member,
            status=form.cleaned_data["status"],
            now=timezone.now(),
        )
    except ActionError as error:
        messages.error(request, str(error))
    return redirect(action)


@member_required
@require_POST
def tags(request, code):
    action = _get_action_for_member(request, code)
    form = forms.TagsForm(request.POST)
    return _post_form(
        request,
        action,
        form,
        lambda d: services.action_tags_set(
            action=action, actor=request.member, names=form.names(), now=timezone.now()
        ),
        "tags_form",
        _("Tags saved."),
    )


@member_required
@require_POST
def close(request, code):
    action = _get_action_for_member(request, code)
    form = forms.CloseForm(request.POST, action=action)
    if form.is_valid():
        try:
            with transaction.atomic():
                services.action_close(
                    action=action,
                    actor=request.member,
                    status=form.cleaned_data["status"],
                    resolution=form.cleaned_data["resolution"],
                    cause=form.cleaned_data.get("cause"),
                    now=timezone.now(),
                )
        except ActionError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, _("Closed. Now tell the customer what you did."))
            return redirect("actions:tell", code=action.code)
    context = _detail_context(request, action, close_form=form)
    return render(request, "actions/detail.html", context, status=400)


@member_required
@require_POST
def link(request, code):
    """Link another open action (merging it) or unrouted feedback to this action."""
    action = _get_action_for_member(request, code)
    org = request.member.org
    form = forms.LinkForm(request.POST)

    def apply(data):
        kind, _colon, ref = data["target"].partition(":")
        if kind == "action":
            try:
                other = Action.objects.get(org=org, code=uuid.UUID(ref))
            except (ValueError, Action.DoesNotExist):
                raise ActionError(_("Choose one of your business's open actions.")) from None
            services.action_merge(
                action=action, actor=request.member, other=other, now=timezone.now()
            )
        elif kind == "response" and ref.isdigit():
            response = Response.objects.filter(org=org, pk=int(ref)).first()
            if response is None:
                raise ActionError(_("Choose feedback of your business."))
            services.action_link_response(
                action=action, actor=request.member, response=response, now=timezone.now()
            )
        else:
            raise ActionError(_("Choose what to link."))

    return _post_form(request, action, form, apply, "link_form", _("Linked."))


def _draft_language_context(action) -> dict:
    code = services.draft_language(action)
    info = translation.get_language_info(code)
    return {"draft_language": info["name"], "draft_code": code, "draft_bidi": info["bidi"]}


@member_required
@require_http_methods(["GET", "POST"])
def tell(request, code):
    """The loop-closing message: prefilled, editable, previewed, then queued."""
    action = _get_action_for_member(request, code)
    if action.is_open:
        messages.error(request, _("Close the action first; then tell the customer what you did."))
        return redirect(action)
    recipients = services.loop_recipients(action)
    subject, body = services.loop_message_draft(action=action, member=request.member)
    form = forms.LoopMessageForm(request.POST or None, initial={"subject": subject, "body": body})
    preview = None
    if request.method == "POST" and form.is_valid():
        if request.POST.get("send") and recipients:
            with transaction.atomic():
                sent = services.loop_message_send(
                    action=action,
                    actor=request.member,
                    subject=form.cleaned_data["subject"],
                    body=form.cleaned_data["body"],
                    now=timezone.now(),
                )
            if sent:
                messages.success(
                    request,
                    ngettext(
                        "Your message is on its way to %(count)s customer.",
                        "Your message is on its way to %(count)s customers.",
                        len(sent),
                    )
                    % {"count": len(sent)},
                )
            else:  # a double-click: the first click already told them
                messages.info(request, _("Every customer here has already been told."))
            return redirect(action)
        preview = form.cleaned_data
    first = recipients[0] if recipients else None
    return render(
        request,
        "actions/tell.html",
        {
            "action": action,
            "form": form,
            "preview": preview,
            "recipients": recipients,
            "first": first,
            "sender": request.member,
            # The draft is in the customer's language: say which, since staff may not read it,
            # and preview the email's own words in it.
            **_draft_language_context(action),
        },
        status=400 if request.method == "POST" and not form.is_valid() else 200,
    )


# Routing rules (owners only) --------------------------------------------------------------


@owner_required
@require_GET
def rules(request):
    org = request.member.org
    saved = list(
        RoutingRule.objects.filter(org=org)
        .prefetch_related("members__user")
        .select_related("touchpoint")
    )
    return render(
        request,
        "actions/rules.html",
        {
            "rules": saved or routing.default_rules(org),
            "using_defaults": not saved,
        },
    )


@owner_required
@require_http_methods(["GET", "POST"])
def rule_edit(request, code=None):
    org = request.member.org
    if code is None:
        if request.method == "POST":
            # Customising starts from the defaults, so adding one rule doesn't drop the others.
            routing.routing_rules_materialise(org=org)
        rule = RoutingRule(org=org, position=routing.routing_rule_next_position(org=org))
    else:
        rule = _get_rule_for_owner(request, code)
    form = forms.RoutingRuleForm(request.POST or None, instance=rule, org=org)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Rule saved."))
        return redirect("actions:rules")
    status_code = 400 if request.method == "POST" else 200
    return render(
        request, "actions/rule_form.html", {"form": form, "rule": rule}, status=status_code
    )


@owner_required
@require_POST
def rule_move(request, code):
    rule = _get_rule_for_owner(request, code)
    routing.routing_rule_move(rule=rule, direction="up" if request.POST.get("up") else "down")
    return redirect("actions:rules")


@owner_required
@require_POST
def rule_toggle(request, code):
    """Switch a rule on or off. The form posts the state it wants (not "flip it"), so a
    double-click leaves the rule as the owner meant."""
    rule = _get_rule_for_owner(request, code)
    wanted = request.POST.get("active")
    if wanted not in ("0", "1"):
        messages.error(request, _("Choose whether to switch the rule on or off."))
        return redirect("actions:rules")
    routing.routing_rule_set_active(rule=rule, active=wanted == "1")
    messages.success(request, _("Rule switched on.") if wanted == "1" else _("Rule switched off."))
    return redirect("actions:rules")


@owner_required
@require_POST
def rules_customise(request):
    routing.routing_rules_materialise(org=request.member.org)
    return redirect("actions:rules")


# Causes (owners edit the list; everyone closing a problem picks from it) ------------------


@owner_required
@require_http_methods(["GET", "POST"])
def causes(request):
    """The business's short list of causes, and a form to add one."""
    org = request.member.org
    form = forms.CauseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.cause_create(org=org, name=form.cleaned_data["name"], now=timezone.now())
        except ActionError as error:
            form.add_error("name", str(error))
        else:
            messages.success(request, _("Cause added."))
            return redirect("actions:causes")
    return _causes_page(request, form, status=400 if request.method == "POST" else 200)


def _causes_page(request, form, status=200, editing=None):
    listed = queries.org_causes(org=request.member.org)
    for cause in listed:
        cause.form = (
            editing
            if editing is not None and editing.cause_code == cause.code
            else forms.CauseEditForm(initial={"name": cause.name, "active": cause.active})
        )
    return render(request, "actions/causes.html", {"causes": listed, "form": form}, status=status)


@owner_required
@require_POST
def cause_edit(request, code):
    """Rename or retire a cause; another business's cause is a 404."""
    cause = get_object_or_404(Cause, org=request.member.org, code=code)
    form = forms.CauseEditForm(request.POST)
    if form.is_valid():
        try:
            services.cause_update(
                cause=cause,
                name=form.cleaned_data["name"],
                active=form.cleaned_data["active"],
                now=timezone.now(),
            )
        except ActionError as error:
            form.add_error("name", str(error))
        else:
            messages.success(request, _("Cause saved."))
            return redirect("actions:causes")
    form.cause_code = cause.code
    return _causes_page(request, forms.CauseForm(), status=400, editing=form)


# The customer's pages (token, no login) ---------------------------------------------------


def _response_of(invitation):
    return Response.objects.filter(invitation=invitation, submitted_at__isnull=False).first()


#: The customer's status pages (/f/<token>/ and its "Did this sort it out?") stop showing their
#: feedback this many days after it was settled, so an old email doesn't open it for good.
#: Settled: the action closed, or with no action the answers arrived, or with no answers the
#: survey link expired. Never while an action is open (a "No" that reopens it counts as open).
STATUS_PAGE_DAYS = 180


def _status_expired(invitation, response, action, now) -> bool:
    if action is not None and action.is_open:
        return False
    if action is not None:
        settled = action.closed_at or response.submitted_at
    elif response is not None:
        settled = response.submitted_at
    else:
        settled = invitation.expires_at
    return now >= settled + timedelta(days=STATUS_PAGE_DAYS)


def _status_expired_page(request, invitation, response, withdrawn_now=False):
    """The calm 410: nothing of the feedback, but a customer who let us quote them can still
    take that back, which must outlive the page."""
    context = {
        "org": invitation.org,
        "invitation": invitation,
        "response": response,
        "withdrawn_now": withdrawn_now,
        "days": STATUS_PAGE_DAYS,
    }
    return tokens.gone_page(request, "actions/status_expired.html", context)


def _status_context(invitation) -> dict:
    response = _response_of(invitation)
    action = None
    loop_message = None
    if response is not None:
        link = response_link(response)
        action = link.action if link else None
        loop_message = (
            LoopMessage.objects.filter(response=response, queued_at__isnull=False)
            .select_related("sent_by__user")
            .order_by("-created_at")
            .first()
        )
    org = invitation.org
    return {
        "invitation": invitation,
        "org": org,
        "customer": invitation.customer,
        "response": response,
        "action": action,
        "loop_message": loop_message,
        # Every customer whose loop closed is offered the review link, whatever they answered
        # (asking only the happy ones is review gating, which review sites forbid).
        "review_url": org.review_url
        if loop_message is not None and action is not None and not action.is_open
        else "",
        # The date they were promised, and every move of it with its reason for them.
        "promise": queries.promise_timeline(action=action) if action is not None else None,
    }


def response_link(response):
    return (
        ActionResponse.objects.select_related("action__owner__user")
        .filter(response=response)
        .first()
    )


@require_http_methods(["GET", "HEAD", "POST"])
@languages.customer_page
def status_page(request, invitation):
    if request.method == "POST" or request.GET.get("delete") == "1":
        return _delete_my_data(request, invitation)
    context = _status_context(invitation)
    if _status_expired(invitation, context["response"], context["action"], timezone.now()):
        return _status_expired_page(request, invitation, context["response"])
    return render(request, "actions/status.html", context)


@require_POST
@languages.customer_page
def withdraw_consent(request, invitation):
    response = _response_of(invitation)
    if response is None:
        raise Http404
    services.response_consent_withdraw(response=response, now=timezone.now())
    context = _status_context(invitation)
    if _status_expired(invitation, context["response"], context["action"], timezone.now()):
        page = _status_expired_page(request, invitation, context["response"], withdrawn_now=True)
        page.status_code = 200  # the withdrawal worked; only the feedback is no longer shown
        return page
    context["withdrawn_now"] = True
    return render(request, "actions/status.html", context)


@require_http_methods(["GET", "POST"])
@languages.customer_page
def sorted_page(request, invitation):
    """ "Did this sort it out?": a GET shows the buttons (mail scanners open every link);
    only a POST records the answer."""
    response = _response_of(invitation)
    message = (
        LoopMessage.objects.filter(response=response, queued_at__isnull=False)
        .select_related("response__customer")
        .order_by("-created_at")
        .first()
        if response
        else None
    )
    if message is None:
        raise Http404
    link = response_link(response)
    if _status_expired(invitation, response, link.action if link else None, timezone.now()):
        return _status_expired_page(request, invitation, response)
    form = forms.OutcomeForm(
        request.POST or None, initial={"answer": request.GET.get("answer", "")}
    )
    recorded = False
    if request.method == "POST" and form.is_valid():
        recorded = services.loop_outcome_record(
            message=message,
            outcome=form.cleaned_data["answer"],
            comment=form.cleaned_data["comment"],
            now=timezone.now(),
        )
        message.refresh_from_db()
    return render(
        request,
        "actions/sorted.html",
        {
            "org": invitation.org,
            "message": message,
            "form": form,
            "recorded": recorded,
            "preselected": request.GET.get("answer", ""),
            "token": invitation.token,
        },
    )


@require_http_methods(["GET", "POST"])
@languages.customer_page
def still_sorted_page(request, invitation):
    """ "Is it still sorted?", weeks after a Yes: a GET shows the question with the emailed
    answer chosen (mail scanners open every link); only a person's press (a POST) records it,
    and a No reopens the action."""
    response = _response_of(invitation)
    follow_up = (
        FollowUp.objects.filter(response=response, sent_at__isnull=False)
        .select_related("response__customer")
        .order_by("-sent_at", "-pk")
        .first()
        if response
        else None
    )
    if follow_up is None:
        raise Http404
    link = response_link(response)
    if _status_expired(invitation, response, link.action if link else None, timezone.now()):
        return _status_expired_page(request, invitation, response)
    form = forms.StillSortedForm(request.POST or None)
    recorded = False
    if request.method == "POST" and form.is_valid():
        recorded = services.follow_up_answer_record(
            follow_up=follow_up,
            answer=form.cleaned_data["answer"],
            comment=form.cleaned_data["comment"],
            now=timezone.now(),
        )
        follow_up.refresh_from_db()
    return render(
        request,
        "actions/still_sorted.html",
        {
            "org": invitation.org,
            "follow_up": follow_up,
            "form": form,
            "recorded": recorded,
            "preselected": request.GET.get("answer", ""),
            "token": invitation.token,
        },
    )


def _delete_my_data(request, invitation):
    """ "Delete what I told you": a GET shows the confirmation (mail scanners open links), a
    confirmed POST records the request, which feedback.privacy's sweep carries out."""
    if request.method == "POST" and "delete_my_data" not in request.POST:
        # The page itself takes no other POST.
        return HttpResponseNotAllowed(["GET", "HEAD"])
    path = reverse("actions:status", args=[invitation.token])
    if request.method != "POST" or request.POST.get("delete_my_data") != "yes":
        context = {"org": invitation.org, "form_action": path, "back_url": path}
        return render(request, "surveys/delete_confirm.html", context)
    erasure_request_record(
        invitation=invitation, source=ErasureRequest.Source.STATUS_PAGE, now=timezone.now()
    )
    return render(request, "surveys/delete_requested.html", {"org": invitation.org})
