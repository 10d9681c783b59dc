import csv
import io

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts.text import is_storable

from . import wording
from .ingest import UNSTORABLE
from .library import business_kind_choices
from .models import MAX_TEXT, Answer, Question, Survey, Touchpoint

CSV_MAX_BYTES = 1_000_000
CSV_MAX_ROWS = 2000
CSV_COLUMNS = ["email", "name", "touchpoint", "staff", "occurred_at", "reference", "locale"]


def _check_storable(value: str) -> str:
    if value and not is_storable(value):
        raise ValidationError(UNSTORABLE)
    return value


class SurveyCreateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120, initial=_("After your visit"))
    business = forms.ChoiceField(
        label=_("Start from questions for"),
        choices=[("", _("No template: start empty")), *business_kind_choices()],
        required=False,
    )

    def clean_name(self):
        return _check_storable(self.cleaned_data["name"].strip())


class QuestionForm(forms.ModelForm):
    choices_text = forms.CharField(
        label=_("Options (one per line)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("For single choice: two to six options."),
    )

    class Meta:
        model = Question
        fields = ["kind", "text", "low_label", "high_label"]
        labels = {
            "kind": _("Kind"),
            "text": _("Question"),
            "low_label": _("Label for 1 (rating)"),
            "high_label": _("Label for 5 (rating)"),
        }

    # The fields each language repeats, with their limits (the default's).
    TRANSLATED = (
        ("text", _("Question"), 200),
        ("low_label", _("Label for 1 (rating)"), 40),
        ("high_label", _("Label for 5 (rating)"), 40),
    )

    def __init__(self, *args, languages=(), **kwargs):
        """``languages``: (code, name) pairs the question may be written in besides the
        default (the edit form passes the shipped ones minus the organisation's default)."""
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.choices:
            self.fields["choices_text"].initial = "\n".join(self.instance.choices)
        self.languages = list(languages)
        written = self.instance.translations or {}
        for code, name in self.languages:
            own = written.get(code) or {}
            for field, label, limit in self.TRANSLATED:
                self.fields[f"{code}_{field}"] = forms.CharField(
                    # Translators: a question form's field, then the language it is written in.
                    label=gettext("%(label)s (%(language)s)") % {"label": label, "language": name},
                    max_length=limit,
                    required=False,
                    initial=own.get(field, ""),
                )
            self.fields[f"{code}_choices_text"] = forms.CharField(
                label=gettext("Options, one per line in the same order (%(language)s)")
                % {"language": name},
                required=False,
                widget=forms.Textarea(attrs={"rows": 3}),
                initial="\n".join(own.get("choices") or []),
            )

    def main_fields(self):
        """The default language's fields (the translations come in ``language_fieldsets``)."""
        return [self[name] for name in ("kind", "text", "choices_text", "low_label", "high_label")]

    def language_fieldsets(self):
        return [
            (
                code,
                name,
                [self[f"{code}_{f}"] for f, _l, _m in self.TRANSLATED]
                + [self[f"{code}_choices_text"]],
            )
            for code, name in self.languages
        ]

    def clean(self):
        data = super().clean()
        for name in ("text", "low_label", "high_label", "choices_text"):
            if data.get(name) and not is_storable(data[name]):
                self.add_error(name, UNSTORABLE)
        options = [line.strip() for line in data.get("choices_text", "").splitlines()]
        options = [o for o in options if o]
        if data.get("kind") == Question.Kind.CHOICE:
            if not 2 <= len(options) <= 6:
                self.add_error("choices_text", gettext("Give two to six options, one per line."))
            elif any(len(o) > 200 for o in options):
                self.add_error("choices_text", gettext("Keep each option under 200 characters."))
        data["choices"] = options if data.get("kind") == Question.Kind.CHOICE else []
        data["translations"] = self._translations(data)
        return data

    def _translations(self, data) -> dict:
        """{code: {field: text}} for the languages given anything; empty fields are left out,
        so they fall back to the default."""
        translations = {}
        for code, _name in self.languages:
            own = {}
            for field, _label, _limit in self.TRANSLATED:
                value = (data.get(f"{code}_{field}") or "").strip()
                if value and not is_storable(value):
                    self.add_error(f"{code}_{field}", UNSTORABLE)
                elif value:
                    own[field] = value
            name = f"{code}_choices_text"
            lines = [line.strip() for line in (data.get(name) or "").splitlines()]
            while lines and not lines[-1]:
                lines.pop()
            if any(lines) and data.get("kind") == Question.Kind.CHOICE:
                if len(lines) > len(data.get("choices") or []):
                    self.add_error(
                        name,
                        gettext("Give at most one line per option, in the same order as above."),
                    )
                elif any(len(line) > 200 or not is_storable(line) for line in lines):
                    self.add_error(name, gettext("Keep each option under 200 characters."))
                else:
                    own["choices"] = lines
            if own:
                translations[code] = own
        return translations

    def question_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "text": data["text"].strip(),
            "choices": data["choices"],
            "low_label": data.get("low_label", ""),
            "high_label": data.get("high_label", ""),
            **({"translations": data["translations"]} if self.languages else {}),
        }


class SurveySettingsForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    free_text_prompt = forms.CharField(
        max_length=200,
        required=False,
        label=_("Free-text box prompt"),
        help_text=_("Leave empty for no free-text box."),
    )
    active = forms.BooleanField(required=False, label=_("Active (invitations are sent)"))

    def __init__(self, *args, languages=(), **kwargs):
        """``languages``: (code, name) pairs the prompt may be written in besides the default."""
        super().__init__(*args, **kwargs)
        self.languages = list(languages)
        for code, name in self.languages:
            self.fields[f"prompt_{code}"] = forms.CharField(
                max_length=200,
                required=False,
                label=gettext("Free-text box prompt (%(language)s)") % {"language": name},
                help_text=gettext("Optional: empty shows the default prompt."),
            )

    def clean(self):
        data = super().clean()
        names = ["name", "free_text_prompt", *(f"prompt_{code}" for code, _n in self.languages)]
        for name in names:
            if data.get(name) and not is_storable(data[name]):
                self.add_error(name, UNSTORABLE)
        data["prompt_translations"] = {
            code: data[f"prompt_{code}"].strip()
            for code, _name in self.languages
            if (data.get(f"prompt_{code}") or "").strip()
        }
        return data


class TouchpointForm(forms.ModelForm):
    class Meta:
        model = Touchpoint
        fields = [
            "name",
            "slug",
            "survey",
            "send_delay_minutes",
            "default_owner",
            "active",
            "stay_fixed_weeks",
        ]
        labels = {
            "name": _("Name"),
            "slug": _("Slug (used by the API)"),
            "survey": _("Survey"),
            "send_delay_minutes": _("Send after (minutes)"),
            "default_owner": _("Default owner"),
            "active": _("Active"),
            "stay_fixed_weeks": _("Ask whether it stayed fixed after (weeks)"),
        }
        # The model's help text, here so that it is marked for translation.
        help_texts = {
            "stay_fixed_weeks": _(
                "Weeks after a customer says a fix sorted it out, ask them once whether it is "
                "still sorted. 0 never asks."
            ),
        }

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        self.org = org
        self.fields["survey"].queryset = Survey.objects.for_org(org)
        self.fields["default_owner"].queryset = org.memberships.select_related("user")
        self.fields["default_owner"].label_from_instance = lambda m: m.display_name
        self.fields["stay_fixed_weeks"].required = False

    def clean_name(self):
        return _check_storable(self.cleaned_data["name"])

    def clean_slug(self):
        slug = self.cleaned_data["slug"]
        clash = Touchpoint.objects.for_org(self.org).filter(slug=slug)
        if self.instance.pk:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise ValidationError(gettext("Another touchpoint already uses this slug."))
        return slug

    def clean_send_delay_minutes(self):
        value = self.cleaned_data["send_delay_minutes"]
        if value > 60 * 24 * 14:
            raise ValidationError(gettext("At most two weeks: ask while it's fresh."))
        return value

    def clean_stay_fixed_weeks(self):
        # Empty is off, like 0 (pages and API clients that predate the field send nothing).
        value = self.cleaned_data["stay_fixed_weeks"] or 0
        if value > 26:
            raise ValidationError(gettext("At most 26 weeks: after that nobody remembers the fix."))
        return value


class SendNowForm(forms.Form):
    email = forms.EmailField(label=_("Customer's email"))
    name = forms.CharField(label=_("Customer's name"), max_length=150, required=False)
    touchpoint = forms.ModelChoiceField(
        queryset=Touchpoint.objects.none(), empty_label=None, label=_("Touchpoint")
    )
    staff = forms.ModelChoiceField(
        queryset=None, required=False, label=_("Served by"), empty_label=_("Nobody in particular")
    )
    locale = forms.ChoiceField(
        label=_("Customer's language"),
        required=False,
        help_text=_("Their survey, emails and pages are in it. Leave it to use the business's."),
    )

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        default = dict(settings.LANGUAGES).get(org.default_language, org.default_language)
        business = gettext("The business's (%(language)s)") % {"language": default}
        self.fields["locale"].choices = [("", business), *settings.LANGUAGES]
        self.fields["touchpoint"].queryset = Touchpoint.objects.for_org(org).filter(active=True)
        self.fields["staff"].queryset = org.memberships.select_related("user")
        self.fields["staff"].label_from_instance = lambda m: m.display_name

    def clean_name(self):
        return _check_storable(self.cleaned_data["name"].strip())

    def clean_email(self):
        return self.cleaned_data["email"].strip().lower()


class CsvUploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        required=False,
        # Translators: the column names are what the importer reads: keep them in English.
        help_text=_(
            "Columns: email, name, touchpoint, staff, occurred_at, reference, locale (the "
            "customer's language, like fr). A header row is required; only email and "
            "touchpoint must be filled."
        ),
    )
    content = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        if upload:
            if upload.size > CSV_MAX_BYTES:
                raise ValidationError(
                    gettext("That file is over 1 MB; split it into smaller files.")
                )
            raw = upload.read()
            try:
                data["content"] = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise ValidationError(
                    gettext("Save the file as UTF-8 CSV and upload it again.")
                ) from None
        if not data.get("content"):
            raise ValidationError(gettext("Choose a CSV file to upload."))
        if len(data["content"]) > CSV_MAX_BYTES:
            raise ValidationError(gettext("That file is over 1 MB; split it into smaller files."))
        return data


def csv_rows(content: str) -> tuple[list[dict], str]:
    """The rows of a CSV as dicts keyed by CSV_COLUMNS, and a problem with the file as a whole."""
    reader = csv.DictReader(io.StringIO(content))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "email" not in header or "touchpoint" not in header:
        # Translators: "email" and "touchpoint" are column names: keep them in English.
        return [], gettext(
            "The first row must name the columns, with at least email and touchpoint."
        )
    reader.fieldnames = header
    rows = []
    try:
        for row in reader:
            if len(rows) >= CSV_MAX_ROWS:
                return [], ngettext(
                    "At most %(count)s row per file; split it.",
                    "At most %(count)s rows per file; split it.",
                    CSV_MAX_ROWS,
                ) % {"count": CSV_MAX_ROWS}
            rows.append({k: (row.get(k) or "").strip() for k in CSV_COLUMNS})
    except csv.Error as exc:
        return [], gettext("This isn't a CSV file we can read (%(error)s).") % {"error": exc}
    return rows, ""


class SurveyAnswerForm:
    """Reads the survey page's POST: answers by question, the customer's words and consent.

    Not a Django form: its fields are the version's questions, and an answer left empty is a
    question skipped, not an error.
    """

    def __init__(self, data, questions):
        self.data = data
        self.questions = questions
        self.errors: dict[str, str] = {}
        self.answers: dict = {}
        self.verbatim = ""
        self.consent = False

    def is_valid(self) -> bool:
        for question in self.questions:
            raw = self.data.get(f"q-{question.key}", "")
            if raw == "":
                continue
            error = wording.text_problem(raw, MAX_TEXT)
            if error:
                self.errors[str(question.key)] = error
                continue
            try:
                self.answers[question] = Answer.fields_for(question, raw)
            except ValidationError as exc:
                self.errors[str(question.key)] = exc.messages[0]
        self.verbatim = self.data.get("verbatim", "")
        error = wording.text_problem(self.verbatim, MAX_TEXT)
        if error:
            self.errors["verbatim"] = error
        self.consent = self.data.get("consent") == "yes"
        return not self.errors
