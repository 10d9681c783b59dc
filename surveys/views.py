import re
import uuid
from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.core.validators import validate_email
from django.db.models import Count
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template import engines
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.csp import CSP
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, ngettext
from django.views.decorators.clickjacking import xframe_options_exempt, xframe_options_sameorigin
from django.views.decorators.csp import csp_override
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import owner_required
from accounts.mail import render_email
from accounts.models import InboundEvent, OutgoingEmail
from accounts.text import is_storable

from . import inbound, languages, public, queries, sending, services, tokens, wording
from .forms import (
    CsvUploadForm,
    QuestionForm,
    SendNowForm,
    SurveyAnswerForm,
    SurveyCreateForm,
    SurveySettingsForm,
    TouchpointForm,
    csv_rows,
)
from .ingest import InputError, Lookups, parse_interaction
from .library import LIBRARY, template_question
from .models import (
    MAX_QUESTIONS,
    MAX_TEXT,
    Answer,
    Customer,
    HearBack,
    Interaction,
    Invitation,
    Question,
    Response,
    RetiredPublicCode,
    Survey,
    SurveyVersion,
    Touchpoint,
)
from .privacy import ErasureRequest, erasure_request_record

# --- The customer's pages ---------------------------------------------------------------------


def _visitor_language(request, *args, **kwargs):
    return languages.for_visitor(request)


_customer_page = languages.customer_page(closed=tokens.survey_closed_page)


def _prompt_shown(version) -> str:
    """The survey's comment prompt in the active language: as written for it, else the
    default prompt (through the catalogues while it is Heard's own)."""
    if version is None or not version.free_text_prompt:
        return ""
    written = (version.translations or {}).get(translation.get_language() or "", "")
    return (written or "").strip() or languages.shown(version.free_text_prompt)


def _page_items(questions, answers, posted=None, errors=None, picked=None):
    """Everything the page shows per question, worked out here: the template only prints,
    which keeps the busiest page's rendering cheap. Texts are in the active language (as the
    owner wrote them for it, else the default); the values posted are always the default's."""
    items, total = [], len(questions)
    language = translation.get_language() or settings.LANGUAGE_CODE
    for number, question in enumerate(questions, start=1):
        shown = question.in_language(language)
        key = str(question.key)
        answer = answers.get(question.pk)
        value = answer.value if answer is not None else ""
        if posted is not None:
            value = posted.get(f"q-{key}", value)
        if picked and picked[0] == question:
            value = picked[1]
        scale = None
        if question.kind == Question.Kind.RATING and question.low_label:
            scale = (shown["low_label"], shown["high_label"])
        items.append(
            {
                "key": key,
                "position": wording.position(number, total),
                "text": shown["text"],
                "kind": question.kind,
                "is_text": question.kind == Question.Kind.TEXT,
                "scale": scale,
                "name": f"q-{key}",
                "value": value,
                "options": [
                    {"label": label, "value": option, "checked": option == value}
                    for label, option in shown["options"]
                ],
                "error": (errors or {}).get(key, ""),
            }
        )
    return items


def _picked(request, questions):
    """The answer an email link chose (?q=<key>&a=<value>), if it names a real option.
    Only shown preselected: a GET never records anything (mail scanners open every link)."""
    key, value = request.GET.get("q", ""), request.GET.get("a", "")
    for question in questions:
        if str(question.key) == key:
            try:
                Answer.fields_for(question, value)
            except ValidationError:
                return None
            if question.kind == Question.Kind.TEXT:
                return None
            shown = question.in_language(translation.get_language() or settings.LANGUAGE_CODE)
            label = dict((v, label) for label, v in shown["options"])
            return question, value, label.get(value, value), shown["text"]
    return None


def _survey_context(invitation, questions, answers, **extra):
    urls = {}
    if isinstance(invitation, Invitation):
        queries.interaction_load(invitation)
        # The switch's ?lang= rides along until the customer answers (surveys.languages).
        keep = languages.query_keep(extra.pop("request")) if "request" in extra else ""
        urls = {
            "page_url": reverse("surveys:page", args=[invitation.token]) + keep,
            "unsubscribe_url": reverse("surveys:unsubscribe", args=[invitation.token]) + keep,
        }
    items = _page_items(
        questions,
        answers,
        extra.pop("posted", None),
        extra.pop("errors", None),
        extra.get("picked"),
    )
    response = getattr(invitation, "response", None)
    return {
        "invitation": invitation,
        "org": invitation.org,
        "current_org": invitation.org,
        "version": invitation.survey_version,
        "prompt": _prompt_shown(invitation.survey_version),
        "items": items,
        "answered": len(answers),
        "total": len(questions),
        "response": response,
        "verbatim": response.verbatim if response else "",
        "consent": response.consent_to_quote if response else False,
        "max_text": MAX_TEXT,
        "max_text_label": wording.count(MAX_TEXT),
        **urls,
        **extra,
    }


@require_http_methods(["GET", "HEAD", "POST"])
@_customer_page
def survey_page(request, invitation):
    if request.method == "POST" and "delete_my_data" in request.POST:
        return _delete_my_data(request, invitation)
    if request.GET.get("delete") == "1":
        return _delete_my_data_confirm(request, invitation)
    questions, answers = queries.survey_page_data(invitation)
    if request.method == "POST":
        if "q" in request.POST:
            page = _save_one_answer(request, invitation, questions, answers)
        else:
            page = _save_all_answers(request, invitation, questions, answers)
        if page.status_code < 400:
            # Answered in the language they switched to: their later emails are in it too.
            languages.customer_language_remember(invitation.customer, languages.chosen(request))
        return page
    picked = _picked(request, questions)
    context = _survey_context(invitation, questions, answers, picked=picked, request=request)
    context["saved"] = request.GET.get("saved") == "1"
    return render(request, "surveys/survey_page.html", context)


def _wants_json(request) -> bool:
    return request.headers.get("X-Requested-With") == "fetch" or bool(request.htmx)


def _save_one_answer(request, invitation, questions, answers):
    key, raw = request.POST.get("q", ""), request.POST.get("a", "")
    question = next((q for q in questions if str(q.key) == key), None)
    error = ""
    if question is None:
        error = str(wording.NOT_IN_SURVEY)
    else:
        try:
            fields = Answer.fields_for(question, raw)
        except ValidationError as exc:
            error = exc.messages[0]
    if error:
        if _wants_json(request):
            return JsonResponse({"saved": False, "error": error}, status=400)
        context = _survey_context(invitation, questions, answers, page_error=error, request=request)
        return render(request, "surveys/survey_page.html", context, status=400)
    services.response_save(
        invitation=invitation, answers={question: fields}, existing=answers, now=timezone.now()
    )
    answered = len(answers) + (question.pk not in answers)
    if _wants_json(request):
        return JsonResponse({"saved": True, "answered": answered, "total": len(questions)})
    return redirect(f"{reverse('surveys:page', args=[invitation.token])}?saved=1")


def _save_all_answers(request, invitation, questions, answers):
    form = SurveyAnswerForm(request.POST, questions)
    if not form.is_valid():
        context = _survey_context(
            invitation,
            questions,
            answers,
            posted=request.POST,
            errors=form.errors,
            form_errors=form.errors,
            verbatim_error=form.errors.get("verbatim", ""),
            request=request,
        )
        context["verbatim"] = request.POST.get("verbatim", "")
        context["consent"] = form.consent
        return render(request, "surveys/survey_page.html", context, status=400)
    services.response_save(
        invitation=invitation,
        answers=form.answers,
        existing=answers,
        verbatim=form.verbatim,
        consent=form.consent,
        now=timezone.now(),
    )
    return redirect("surveys:thanks", token=invitation.token)


@require_GET
@_customer_page
def thanks(request, invitation):
    context = {
        "invitation": invitation,
        "org": invitation.org,
        "current_org": invitation.org,
        "response": getattr(invitation, "response", None),
    }
    return render(request, "surveys/thanks.html", context)


@csrf_exempt  # RFC 8058: mail clients POST "List-Unsubscribe=One-Click" without cookies
@require_http_methods(["GET", "HEAD", "POST"])
@_customer_page
def unsubscribe(request, invitation):
    customer = invitation.customer
    done, keep = False, languages.query_keep(request)
    if request.method == "POST":
        languages.customer_language_remember(customer, languages.chosen(request))
        if request.POST.get("action") == "resubscribe":
            services.customer_resubscribe(customer=customer)
            customer.opted_out_at = None
        else:
            services.customer_unsubscribe(customer=customer, now=timezone.now())
            customer.opted_out_at = customer.opted_out_at or timezone.now()
            done = True
    context = {
        "invitation": invitation,
        "org": invitation.org,
        "current_org": invitation.org,
        "customer": customer,
        "done": done,
        "page_url": reverse("surveys:page", args=[invitation.token]) + keep,
        "keep": keep,
    }
    return render(request, "surveys/unsubscribe.html", context)


# --- The owner's pages ------------------------------------------------------------------------


def _get_survey_for_member(request, code) -> Survey:
    return get_object_or_404(Survey.objects.for_org(request.member.org), code=code)


def _get_touchpoint_for_member(request, code) -> Touchpoint:
    return get_object_or_404(Touchpoint.objects.for_org(request.member.org), code=code)


@owner_required
@require_GET
def index(request):
    org = request.member.org
    surveys = list(queries.surveys_for_org(org))
    for survey in surveys:
        versions = list(survey.versions.all())
        survey.current = versions[0] if versions else None
    context = {
        "org": org,
        "surveys": surveys,
        "touchpoints": queries.touchpoints_for_org(org),
        "counts": queries.invitation_counts(org),
        "recent": queries.invitations_for_org(org)[:8],
    }
    return render(request, "surveys/index.html", context)


@owner_required
@require_http_methods(["GET", "POST"])
def survey_new(request):
    form = SurveyCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        business = form.cleaned_data["business"]
        templates = LIBRARY[business]["questions"][:MAX_QUESTIONS] if business else []
        survey = services.survey_create(
            org=request.member.org,
            name=form.cleaned_data["name"],
            templates=templates,
            now=timezone.now(),
        )
        messages.success(
            request, gettext("Survey created. Reword, reorder or swap the questions below.")
        )
        return redirect("surveys:survey", code=survey.code)
    return render(request, "surveys/survey_new.html", {"form": form, "library": LIBRARY})


# --- Surveys per language (README, "Languages") -----------------------------------------------


def _other_languages(org) -> list[tuple[str, str]]:
    """The shipped languages a survey may be written in besides the business's default."""
    default = org.language_for("")
    return [(code, name) for code, name in settings.LANGUAGES if code != default]


def _written(default: str, own, language: str) -> bool:
    """Whether a customer reading ``language`` sees ``default`` in their language: written for
    it by the owner, or (Heard's own wording) translated by the catalogues."""
    if not default or (isinstance(own, str) and own.strip()):
        return True
    with translation.override(language):
        return gettext(default) != default


def _language_complete(version, questions, language: str) -> bool:
    """Every question (text, end labels, choices) and the prompt readable in ``language``."""
    if version is None:
        return False
    prompt = (version.translations or {}).get(language, "")
    if not _written(version.free_text_prompt, prompt, language):
        return False
    for question in questions:
        own = (question.translations or {}).get(language) or {}
        fields = ["text"]
        if question.kind == Question.Kind.RATING:
            fields += ["low_label", "high_label"]
        if not all(_written(getattr(question, f), own.get(f), language) for f in fields):
            return False
        if question.kind == Question.Kind.CHOICE:
            choices = list(own.get("choices") or [])
            choices += [""] * (len(question.choices) - len(choices))
            if not all(
                _written(c, t, language) for c, t in zip(question.choices, choices, strict=False)
            ):
                return False
    return True


def _builder_context(request, survey, **extra):
    version = survey.current_version()
    questions = list(version.questions.all()) if version else []
    others = _other_languages(survey.org)
    written = (version.translations or {}) if version else {}
    settings_form = extra.pop("settings_form", None) or SurveySettingsForm(
        initial={
            "name": survey.name,
            "free_text_prompt": version.free_text_prompt if version else "",
            "active": survey.active,
            **{f"prompt_{code}": written.get(code, "") for code, _name in others},
        },
        languages=others,
    )
    used_texts = {q.text for q in questions}
    edit_errors = extra.get("edit_errors") or {}
    return {
        "survey": survey,
        "version": version,
        "questions": [
            (
                q,
                edit_errors.get(str(q.key))
                or QuestionForm(instance=q, prefix=str(q.key), languages=others),
            )
            for q in questions
        ],
        "languages": [
            {
                "code": code,
                "name": name,
                "complete": _language_complete(version, questions, code),
                "preview_url": f"{reverse('surveys:preview', args=[survey.code])}?lang={code}",
            }
            for code, name in others
        ],
        "full": len(questions) >= MAX_QUESTIONS,
        "max_questions": MAX_QUESTIONS,
        "five_message": services.FIVE_QUESTIONS,
        "add_form": extra.pop("add_form", None) or QuestionForm(prefix="new"),
        "settings_form": settings_form,
        "library": LIBRARY,
        "used_texts": used_texts,
        "response_count": survey.versions.filter(responses__isnull=False).count(),
        **extra,
    }


@owner_required
@require_http_methods(["GET", "POST"])
def survey_detail(request, code):
    survey = _get_survey_for_member(request, code)
    if request.method == "POST":
        form = SurveySettingsForm(request.POST, languages=_other_languages(survey.org))
        if form.is_valid():
            now = timezone.now()
            data = form.cleaned_data
            Survey.objects.filter(pk=survey.pk).update(name=data["name"], active=data["active"])
            version = survey.current_version()
            if version is None or version.free_text_prompt != data["free_text_prompt"]:
                services.survey_update_prompt(
                    survey=survey, prompt=data["free_text_prompt"], now=now
                )
                version = survey.current_version()
            if (version.translations or {}) != data["prompt_translations"]:
                services.survey_update_prompt_translations(
                    survey=survey, translations=data["prompt_translations"], now=now
                )
            messages.success(request, gettext("Saved."))
            return redirect("surveys:survey", code=survey.code)
        context = _builder_context(request, survey, settings_form=form)
        return render(request, "surveys/survey_detail.html", context, status=400)
    return render(request, "surveys/survey_detail.html", _builder_context(request, survey))


@owner_required
@require_POST
def question_add(request, code):
    survey = _get_survey_for_member(request, code)
    now = timezone.now()
    template_id = request.POST.get("template")
    if template_id:
        template = template_question(template_id)
        if template is None:
            raise Http404(gettext("No such template question."))
        fields = template.as_fields()
    else:
        form = QuestionForm(request.POST, prefix="new")
        if not form.is_valid():
            context = _builder_context(request, survey, add_form=form)
            return render(request, "surveys/survey_detail.html", context, status=400)
        fields = form.question_fields()
    try:
        services.question_add(survey=survey, fields=fields, now=now)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, gettext("Question added."))
    return redirect("surveys:survey", code=survey.code)


def _question_or_404(survey, key) -> Question:
    version = survey.current_version()
    question = version.questions.filter(key=key).first() if version else None
    if question is None:
        raise Http404(gettext("No such question."))
    return question


@owner_required
@require_POST
def question_edit(request, code, key):
    survey = _get_survey_for_member(request, code)
    question = _question_or_404(survey, key)
    form = QuestionForm(
        request.POST, instance=question, prefix=str(key), languages=_other_languages(survey.org)
    )
    if not form.is_valid():
        context = _builder_context(request, survey, edit_errors={str(key): form})
        return render(request, "surveys/survey_detail.html", context, status=400)
    services.question_update(
        survey=survey, key=key, fields=form.question_fields(), now=timezone.now()
    )
    messages.success(request, gettext("Question saved."))
    return redirect("surveys:survey", code=survey.code)


@owner_required
@require_POST
def question_move(request, code, key):
    survey = _get_survey_for_member(request, code)
    _question_or_404(survey, key)
    offset = -1 if request.POST.get("direction") == "up" else 1
    services.question_move(survey=survey, key=key, offset=offset, now=timezone.now())
    return redirect(f"{reverse('surveys:survey', args=[survey.code])}#questions")


@owner_required
@require_POST
def question_delete(request, code, key):
    survey = _get_survey_for_member(request, code)
    _question_or_404(survey, key)
    services.question_remove(survey=survey, key=key, now=timezone.now())
    messages.success(request, gettext("Question removed."))
    return redirect("surveys:survey", code=survey.code)


class _PreviewInvitation:
    """Just enough of an invitation to render the survey page and email for the owner."""

    def __init__(self, survey, version, member):
        self.org = survey.org
        self.token = "preview"
        self.survey_version = version
        self.customer = Customer(org=survey.org, email="pat@example.com", name="Pat Jones")
        touchpoint = survey.touchpoints.first() or Touchpoint(name="Your visit", slug="visit")
        self.interaction = Interaction(touchpoint=touchpoint, staff=member)
        self.expires_at = timezone.now() + timedelta(days=survey.org.invitation_expiry_days)


@owner_required
@require_GET
def survey_preview(request, code):
    survey = _get_survey_for_member(request, code)
    version = survey.current_version()
    questions = list(version.questions.all()) if version else []
    invitation = _PreviewInvitation(survey, version, request.member)
    # ?lang=fr: the page as a French customer sees it (the builder links one per language).
    language = languages.supported(request.GET.get(languages.PARAM)) or survey.org.language_for("")
    with translation.override(language):
        context = _survey_context(
            invitation,
            questions,
            {},
            preview=True,
            survey=survey,
            # The banner around the preview is for the owner, in the staff screens' language.
            staff_language=settings.LANGUAGE_CODE,
        )
        answer = render(request, "surveys/survey_page.html", context)
    answer["Content-Language"] = language
    return answer


def _preview_language(request, survey) -> str:
    """?lang=fr: the email as a French customer gets it; else the business's default."""
    return languages.chosen(request) or survey.org.language_for("")


def _preview_email(request, survey):
    version = survey.current_version()
    questions = list(version.questions.all()) if version else []
    invitation = _PreviewInvitation(survey, version, request.member)
    language = _preview_language(request, survey)
    invitation.customer.locale = language
    with translation.override(language):
        context = sending.invitation_email_context(invitation, version, questions)
        return render_email(
            "survey-invitation", {"org": survey.org, "language": language, **context}
        )


@owner_required
@require_GET
def survey_preview_email(request, code):
    survey = _get_survey_for_member(request, code)
    subject, text, _html = _preview_email(request, survey)
    language = _preview_language(request, survey)
    context = {
        "survey": survey,
        "subject": subject,
        "text": text,
        "language": language,
        "language_switch": languages.switch_links(request, language),
    }
    return render(request, "surveys/preview_email.html", context)


@owner_required
@require_GET
@xframe_options_sameorigin
@csp_override(
    {
        "default-src": [CSP.NONE],
        "style-src": [CSP.UNSAFE_INLINE],
        "img-src": [CSP.SELF, "data:"],
        "frame-ancestors": [CSP.SELF],
    }
)
def survey_preview_email_html(request, code):
    # Emails need inline styles; this page allows them and nothing else (no scripts at all).
    survey = _get_survey_for_member(request, code)
    _subject, _text, html = _preview_email(request, survey)
    return HttpResponse(html)


@owner_required
@require_http_methods(["GET", "POST"])
def touchpoint_new(request):
    org = request.member.org
    form = TouchpointForm(request.POST or None, org=org, instance=Touchpoint(org=org))
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, gettext("Touchpoint added."))
        return redirect("surveys:index")
    status = 400 if request.method == "POST" else 200
    return render(request, "surveys/touchpoint_form.html", {"form": form}, status=status)


@owner_required
@require_http_methods(["GET", "POST"])
def touchpoint_edit(request, code):
    touchpoint = _get_touchpoint_for_member(request, code)
    if request.method == "POST" and "intake" in request.POST:
        return _intake_post(request, touchpoint)
    form = TouchpointForm(request.POST or None, org=request.member.org, instance=touchpoint)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, gettext("Touchpoint saved."))
        return redirect("surveys:index")
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "touchpoint": touchpoint, **_doors_context(touchpoint)}
    return render(request, "surveys/touchpoint_form.html", context, status=status)


def _doors_context(touchpoint: Touchpoint) -> dict:
    """The touchpoint page's "other doors in": its link, QR code, snippets and held answers."""
    return {
        "public_url": public.public_url(touchpoint),
        "qr_url": public.public_url(touchpoint, "qr"),
        "kiosk_url": public.kiosk_url(touchpoint),
        "website_snippet": public.website_snippet(touchpoint),
        "iframe_snippet": public.iframe_snippet(touchpoint),
        "held": queries.held_responses(touchpoint),
        "intake_address": (touchpoint.intake_address() or (None, ""))[1],
        "intake_held": list(inbound.intake_held(touchpoint)[:50]),
    }


#: What may be listed as a trusted sender domain: letters, digits, dots and hyphens.
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z0-9-]{2,63}$")


def _intake_post(request, touchpoint: Touchpoint):
    """The touchpoint page's email intake buttons: issue or replace the address, set the
    trusted sender domains, approve or discard a held message."""
    what, now, member = request.POST["intake"], timezone.now(), request.member
    if what == "address":
        address = services.touchpoint_intake_address_issue(touchpoint=touchpoint, now=now)
        messages.success(
            request, gettext("Intake address ready: %(address)s") % {"address": address}
        )
    elif what == "senders":
        domains = [
            d.strip().lstrip("@").lower()
            for d in re.split(r"[\s,;]+", request.POST.get("domains", ""))
            if d.strip()
        ]
        bad = [d for d in domains if not _DOMAIN.match(d)]
        if bad or len(" ".join(domains)) > 500:
            bad_words = ", ".join(bad) or gettext("too many")
            messages.error(
                request, gettext("Not a domain: %(bad)s. Nothing saved.") % {"bad": bad_words}
            )
        else:
            services.touchpoint_intake_senders_set(touchpoint=touchpoint, domains=domains, now=now)
            messages.success(request, gettext("Saved the trusted sender domains."))
    elif what in ("approve", "discard"):
        try:
            event = inbound.intake_held(touchpoint).get(pk=int(request.POST.get("event", "")))
        except (ValueError, InboundEvent.DoesNotExist):
            raise Http404 from None
        if what == "approve":
            inbound.intake_event_approve(event=event, touchpoint=touchpoint, member=member, now=now)
            messages.success(request, gettext("Approved: the customer gets the survey as usual."))
        else:
            inbound.intake_event_discard(event=event, member=member, now=now)
            messages.success(request, gettext("Discarded: nobody is surveyed."))
    else:
        raise Http404
    return redirect("surveys:touchpoint", code=touchpoint.code)


@owner_required
@require_GET
def touchpoint_qr(request, code, kind):
    touchpoint = _get_touchpoint_for_member(request, code)
    if kind == "svg":
        body, content_type = public.qr_svg(touchpoint), "image/svg+xml"
    else:
        body, content_type = public.qr_png(touchpoint), "image/png"
    answer = HttpResponse(body, content_type=content_type)
    answer["Content-Disposition"] = f'attachment; filename="qr-{touchpoint.slug}.{kind}"'
    return answer


def _poster_language(request, code) -> str:
    """Printed for customers: the language chosen on the page, else the business's default."""
    return languages.chosen(request) or request.member.org.language_for("")


@owner_required
@require_GET
@languages.in_language(_poster_language)
def touchpoint_poster(request, code):
    touchpoint = _get_touchpoint_for_member(request, code)
    size = "a5" if request.GET.get("size") == "a5" else "a4"
    context = {
        "touchpoint": touchpoint,
        "org": touchpoint.org,
        "size": size,
        # The toolbar above the sheet is for the owner, in the staff screens' language.
        "staff_language": settings.LANGUAGE_CODE,
        # Inline, so the printed page never waits on a second request (and it takes the
        # business's colour); the SVG is segno's own markup, not text anyone typed.
        "qr": mark_safe(public.qr_svg(touchpoint, dark=_brand_or_black(touchpoint.org)).decode()),
        "short_url": public.public_url(touchpoint).split("://", 1)[-1],
    }
    return render(request, "surveys/poster.html", context)


def _brand_or_black(org) -> str:
    # A QR code needs strong contrast to scan: the brand colour only when it is dark enough.
    colour = org.brand_colour or ""
    if len(colour) == 7 and colour.startswith("#"):
        r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
        if 0.299 * r + 0.587 * g + 0.114 * b < 110:
            return colour
    return "#000000"


@owner_required
@require_POST
def touchpoint_rotate(request, code):
    touchpoint = _get_touchpoint_for_member(request, code)
    services.touchpoint_public_code_rotate(touchpoint=touchpoint, now=timezone.now())
    messages.success(
        request,
        gettext(
            "New link made. The old one now says it has been replaced: reprint your QR poster "
            "and update the snippet on your website."
        ),
    )
    return redirect("surveys:touchpoint", code=touchpoint.code)


@owner_required
@require_POST
def held_release(request, code, invitation_code):
    touchpoint = _get_touchpoint_for_member(request, code)
    response = get_object_or_404(
        Response,
        org=request.member.org,
        invitation__code=invitation_code,
        invitation__interaction__touchpoint=touchpoint,
    )
    if services.response_release(response=response, member=request.member, now=timezone.now()):
        messages.success(request, gettext("Let through: it is routed like any other answer."))
    return redirect("surveys:touchpoint", code=touchpoint.code)


@owner_required
@require_http_methods(["GET", "POST"])
def invitations(request):
    org = request.member.org
    if request.method == "POST":
        return _bounce_clear(request)
    status = request.GET.get("status", "")
    if status not in Invitation.Status.values:
        status = ""
    page = Paginator(queries.invitations_for_org(org, status), 50).get_page(request.GET.get("page"))
    _attach_emails(page.object_list)
    context = {
        "page": page,
        "status": status,
        "statuses": Invitation.Status.choices,
        "counts": queries.invitation_counts(org),
        "now": timezone.now(),
        "untranslated": _sent_untranslated(org, timezone.now()),
    }
    template = "surveys/invitations.html#rows" if request.htmx else "surveys/invitations.html"
    return render(request, template, context)


def _sent_untranslated(org, now) -> list[dict]:
    """Per language: invitations sent in the last 30 days to customers who read it, for a
    survey version not complete in it (they saw the default language where it is missing).
    One query for the counts, one for the versions they name."""
    default = org.language_for("")
    rows = (
        Invitation.objects.for_org(org)
        .filter(sent_at__gte=now - timedelta(days=30), survey_version__isnull=False)
        .values("survey_version_id", "customer__locale")
        .annotate(n=Count("id"))
    )
    counts: dict[tuple[int, str], int] = {}
    for row in rows:
        language = languages.supported(row["customer__locale"])
        if language and language != default:
            key = (row["survey_version_id"], language)
            counts[key] = counts.get(key, 0) + row["n"]
    if not counts:
        return []
    versions = SurveyVersion.objects.filter(pk__in={pk for pk, _ in counts}).prefetch_related(
        "questions"
    )
    versions = {v.pk: (v, list(v.questions.all())) for v in versions}
    missing: dict[str, int] = {}
    for (pk, language), n in counts.items():
        version, questions = versions[pk]
        if not _language_complete(version, questions, language):
            missing[language] = missing.get(language, 0) + n
    names = dict(settings.LANGUAGES)
    return [
        {"count": n, "language": names[code], "default": names.get(default, default)}
        for code, n in sorted(missing.items())
    ]


def _attach_emails(rows) -> None:
    """Each invitation's survey email (``inv.email``, or None), by the outbox key the sweep
    gave it: one query for the page, however many rows."""
    rows = list(rows)
    keys = [f"invitation:{inv.pk}" for inv in rows]
    emails = {e.key: e for e in OutgoingEmail.objects.filter(key__in=keys)} if keys else {}
    for inv, key in zip(rows, keys, strict=True):
        inv.email = emails.get(key)


def _posted_code(request, name: str):
    try:
        return uuid.UUID(request.POST.get(name, ""))
    except ValueError:
        raise Http404 from None


def _bounce_clear(request):
    # Named by the code of the invitation the owner pressed on: customers have no code.
    invitation = get_object_or_404(
        Invitation.objects.for_org(request.member.org).select_related("customer"),
        code=_posted_code(request, "clear_bounce"),
    )
    customer = invitation.customer
    if services.customer_bounce_clear(customer=customer, member=request.member, now=timezone.now()):
        messages.success(
            request,
            gettext("Cleared: surveys may go to %(email)s again.") % {"email": customer.email},
        )
    return redirect("surveys:invitations")


@owner_required
@require_http_methods(["GET", "POST"])
def send_now(request):
    org = request.member.org
    form = SendNowForm(request.POST or None, org=org)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        now = timezone.now()
        item = parse_interaction(
            {
                "customer": {
                    "email": data["email"],
                    "name": data["name"],
                    "locale": data["locale"],
                },
                "touchpoint": data["touchpoint"].slug,
                "staff": data["staff"].user.email if data["staff"] else None,
            },
            Lookups(org),
        )
        # "Now" skips the touchpoint's delay, but never the quiet hours.
        item.occurred_at = now - timedelta(minutes=item.touchpoint.send_delay_minutes)
        interaction, _ = services.interaction_record(
            org=org, item=item, source=Interaction.Source.FORM, now=now
        )
        due = interaction.invitation.due_at
        if due > now + timedelta(minutes=1):
            local = timezone.localtime(due, org.tz)
            messages.success(
                request,
                gettext("Scheduled: it's quiet hours, so it goes out at %(when)s.")
                % {"when": f"{local:%H:%M on %a %d %b}"},
            )
        else:
            messages.success(
                request, gettext("Sending to %(email)s within a minute.") % {"email": data["email"]}
            )
        return redirect("surveys:invitations")
    status = 400 if request.method == "POST" else 200
    return render(request, "surveys/send_now.html", {"form": form}, status=status)


@owner_required
@require_http_methods(["GET", "POST"])
def csv_import(request):
    org = request.member.org
    if request.method == "GET":
        return render(request, "surveys/csv_import.html", {"form": CsvUploadForm()})
    form = CsvUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "surveys/csv_import.html", {"form": form}, status=400)
    content = form.cleaned_data["content"]
    rows, problem = csv_rows(content)
    if problem:
        form.add_error(None, problem)
        return render(request, "surveys/csv_import.html", {"form": form}, status=400)
    checked = _check_csv_rows(rows, Lookups(org))
    good = [row for row in checked if not row["errors"]]
    if request.POST.get("confirm") == "yes" and good:
        now = timezone.now()
        recorded = services.interactions_record(
            org=org, items=[row["item"] for row in good], source=Interaction.Source.CSV, now=now
        )
        created = sum(1 for _, was_new in recorded if was_new)
        skipped = len(checked) - len(good)
        again = len(good) - created
        parts = [
            ngettext("Imported %(n)s interaction", "Imported %(n)s interactions", created)
            % {"n": created}
        ]
        if again:
            parts.append(gettext("%(n)s were already recorded (same reference)") % {"n": again})
        if skipped:
            parts.append(
                ngettext(
                    "%(n)s row with errors was not imported",
                    "%(n)s rows with errors were not imported",
                    skipped,
                )
                % {"n": skipped}
            )
        messages.success(request, "; ".join(parts) + ".")
        return redirect("surveys:invitations")
    context = {
        "form": CsvUploadForm(initial={"content": content}),
        "rows": checked,
        "good": len(good),
        "bad": len(checked) - len(good),
        "content": content,
    }
    return render(request, "surveys/csv_import.html", context)


def _check_csv_rows(rows, lookups) -> list[dict]:
    checked = []
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        data = {
            "customer": {"email": row["email"], "name": row["name"], "locale": row["locale"]},
            "touchpoint": row["touchpoint"],
            "staff": row["staff"] or None,
            "occurred_at": row["occurred_at"] or None,
            "reference": row["reference"] or None,
        }
        item, errors = None, []
        try:
            item = parse_interaction(data, lookups)
        except InputError as exc:
            errors = [f"{field}: {'; '.join(msgs)}" for field, msgs in exc.errors.items()]
        checked.append({"number": number, "row": row, "item": item, "errors": errors})
    return checked


# --- The public link: /t/<code>/ (QR poster, website, kiosk) -----------------------------------


def _frameable(view):
    """Any site may frame this page (the website snippet): no X-Frame-Options, and the
    site-wide CSP with frame-ancestors opened to every origin. Everything else stays
    unframeable."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        config = {**settings.SECURE_CSP, "frame-ancestors": ["*"]}
        return csp_override(config)(view)(request, *args, **kwargs)

    return xframe_options_exempt(wrapper)


def _private(answer: HttpResponse) -> HttpResponse:
    # Kiosk or not, what a customer typed must not be kept by a shared tablet's browser or a
    # proxy, nor come back with Back.
    answer["Cache-Control"] = "no-store"
    return answer


def _public_touchpoint(request, code):
    """(touchpoint, None) for a live code; (None, page) for a replaced (410) or unknown one
    (404, counted against the address like any wrong customer link)."""
    touchpoint = (
        Touchpoint.objects.select_related("org", "survey").filter(public_code=code).first()
        if code and len(code) <= 32
        else None
    )
    if touchpoint is not None:
        return touchpoint, None
    retired = RetiredPublicCode.objects.select_related("touchpoint__org").filter(code=code).first()
    if retired is not None:
        page = tokens.gone_page(
            request, "surveys/public_replaced.html", {"org": retired.touchpoint.org}
        )
        return None, _private(page)
    return None, tokens.miss_page(request)


def _public_query(kiosk: bool, via: str, request=None) -> str:
    keep = languages.chosen(request) if request is not None else None
    lang = f"{languages.PARAM}={keep}" if keep else ""
    if kiosk:
        return "?kiosk=1" + (f"&{lang}" if lang else "")
    query = f"via={via}" if via != Response.Channel.LINK else ""
    joined = "&".join(part for part in (query, lang) if part)
    return f"?{joined}" if joined else ""


def _public_language(request, code, *args, **kwargs):
    """A public link's language: the switch, the browser's, else its business's default."""
    default = (
        Touchpoint.objects.filter(public_code=code)
        .values_list("org__default_language", flat=True)
        .first()
        if code and len(code) <= 32
        else None
    )
    return (
        languages.chosen(request)
        or languages.from_browser(request)
        or (languages.supported(default) or languages.for_visitor(request))
    )


def _hear_back_fields(data) -> tuple[str, str, dict]:
    """The optional name and address to hear back at, checked; (name, email, errors)."""
    name = " ".join(data.get("name", "").split())[:150]
    email = data.get("email", "").strip().lower()
    errors = {}
    if name and not is_storable(name):
        errors["name"] = str(wording.NAME_UNSTORABLE)
    if email:
        try:
            if len(email) > 254:  # the longest address mail can carry (RFC 5321)
                raise ValidationError("too long")
            validate_email(email)
        except ValidationError:
            errors["email"] = str(wording.EMAIL_SHAPE)
    return name, email, errors


@csrf_exempt  # framed on other sites, where browsers send no cookies; anonymous: no session to
# ride on. The signed page stamp, the honeypot and the rate limits stand in for the token.
@require_http_methods(["GET", "HEAD", "POST"])
@_frameable
@languages.in_language(_public_language, varies=True)
def public_page(request, code):
    touchpoint, page = _public_touchpoint(request, code)
    if page is not None:
        return page
    kiosk = request.GET.get("kiosk") == "1"
    via = public.channel_of(request, kiosk)
    context = {"org": touchpoint.org, "touchpoint": touchpoint, "kiosk": kiosk}
    if not touchpoint.takes_public_answers:
        return _private(render(request, "surveys/public_closed.html", context))
    version = touchpoint.survey.current_version()
    questions = list(version.questions.all()) if version else []
    now = timezone.now()
    context |= {
        "version": version,
        "prompt": _prompt_shown(version),
        "total": len(questions),
        "post_url": reverse("surveys:public", args=[code]) + _public_query(kiosk, via, request),
        "stamp": public.form_stamp(touchpoint=touchpoint, now=now),
        "honeypot": public.HONEYPOT,
        "max_text": MAX_TEXT,
        "max_text_label": wording.count(MAX_TEXT),
    }
    if request.method != "POST":
        context["items"] = _page_items(questions, {})
        return _private(render(request, "surveys/public_page.html", context))
    if retry_after := public.post_over_limit(request, touchpoint):
        answer = render(request, "surveys/public_too_many.html", context, status=429)
        answer["Retry-After"] = str(retry_after)
        return _private(answer)
    form = SurveyAnswerForm(request.POST, questions)
    name, email, contact_errors = _hear_back_fields(request.POST)
    if not form.is_valid() or contact_errors:
        context |= {
            "items": _page_items(questions, {}, request.POST, form.errors),
            "form_errors": {**form.errors, **contact_errors},
            "verbatim_error": form.errors.get("verbatim", ""),
            "verbatim": request.POST.get("verbatim", ""),
            "consent": form.consent,
            "name": name,
            "email": request.POST.get("email", "")[:254],
            "contact_errors": contact_errors,
            # The time on the page counts from when it was first opened.
            "stamp": request.POST.get("stamp", "")[:200],
        }
        return _private(render(request, "surveys/public_page.html", context, status=400))
    services.public_response_record(
        touchpoint=touchpoint,
        version=version,
        answers=form.answers,
        verbatim=form.verbatim,
        consent=form.consent,
        name=name,
        email=email,
        channel=via,
        held_reason=public.held_reason_for(request.POST, touchpoint=touchpoint, now=now),
        now=now,
    )
    # Post-redirect-get: reloading the thank-you page never sends the answers again, and on a
    # kiosk the next person's Back finds no form with the last person's words in it.
    thanks = reverse("surveys:public_thanks", args=[code]) + _public_query(kiosk, via, request)
    if email:
        thanks += ("&" if "?" in thanks else "?") + "confirm=1"
    return redirect(thanks)


@require_GET
@_frameable
@languages.in_language(_public_language, varies=True)
def public_thanks(request, code):
    touchpoint, page = _public_touchpoint(request, code)
    if page is not None:
        return page
    kiosk = request.GET.get("kiosk") == "1"
    context = {
        "org": touchpoint.org,
        "touchpoint": touchpoint,
        "kiosk": kiosk,
        "confirm": request.GET.get("confirm") == "1",
        "again_url": reverse("surveys:public", args=[code])
        + _public_query(kiosk, Response.Channel.LINK, request),
        "reset_seconds": KIOSK_RESET_SECONDS,
    }
    if kiosk:
        # Without JavaScript the page still starts again: the script's reset comes first and
        # replaces this entry in the history, the refresh is the fallback.
        context |= {"refresh_url": context["again_url"], "refresh_seconds": KIOSK_RESET_SECONDS + 3}
    return _private(render(request, "surveys/public_thanks.html", context))


#: How long the kiosk's thank-you stays before the survey starts again for the next person.
KIOSK_RESET_SECONDS = 6


def _status_url_builder(request):
    # The status page is a higher floor's (actions): its URL name comes from the top floor's
    # context processor, as on the survey's thank-you page, rather than being named here.
    template = engines["django"].from_string("{% url status_url_name token %}")
    return lambda token: template.render({"token": token}, request)


@require_http_methods(["GET", "HEAD", "POST"])
@languages.in_language(_visitor_language, varies=True)
def hear_back(request, token):
    """The page the confirmation email links to. GET only asks (mail scanners open links);
    the person's POST confirms."""
    found = (
        HearBack.objects.select_related("response__org").filter(token=token).first()
        if token and len(token) <= queries.TOKEN_MAX
        else None
    )
    if found is None:
        return tokens.miss_page(request)
    now = timezone.now()
    context = {"org": found.response.org, "current_org": found.response.org, "hear_back": found}
    if found.is_expired(now):
        return tokens.gone_page(request, "surveys/hear_back_expired.html", context)
    if request.method == "POST" and found.confirmed_at is None:
        services.hear_back_confirm(
            hear_back=found, status_url=_status_url_builder(request), now=now
        )
        found.refresh_from_db()
        context["just_confirmed"] = True
    if found.confirmed_at is not None:
        context["status_token"] = found.response.invitation.token
    return render(request, "surveys/hear_back.html", context)


# --- "Delete what I told you" (the customer's own erasure; feedback.privacy carries it out) ---


def _delete_my_data_confirm(request, invitation):
    """The confirmation step: a GET only shows the question (mail scanners open links)."""
    path = reverse("surveys:page", args=[invitation.token])
    context = {"org": invitation.org, "form_action": path, "back_url": path}
    return render(request, "surveys/delete_confirm.html", context)


def _delete_my_data(request, invitation):
    """Record the request; the erase-requested-customers sweep erases them within seconds
    (this floor can't reach their actions, the wall or the outbox's staff notices)."""
    if request.POST.get("delete_my_data") != "yes":
        return _delete_my_data_confirm(request, invitation)
    erasure_request_record(
        invitation=invitation, source=ErasureRequest.Source.SURVEY_PAGE, now=timezone.now()
    )
    return render(request, "surveys/delete_requested.html", {"org": invitation.org})
