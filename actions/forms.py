from datetime import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership
from accounts.text import text_storable
from surveys.models import Question, Touchpoint

from .models import Action, Cause, Kind, RoutingRule
from .services import TEXT_LIMIT


class CleanTextField(forms.CharField):
    """Outside text as the database can keep it: NUL bytes and lone surrogates never reach it."""

    def to_python(self, value):
        value = super().to_python(value)
        return text_storable(value, limit=self.max_length or TEXT_LIMIT) if value else value


class NoteForm(forms.Form):
    text = CleanTextField(
        label=_("Note"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Only your team sees notes."),
    )


class ReassignForm(forms.Form):
    owner = forms.ModelChoiceField(
        queryset=Membership.objects.none(), to_field_name="code", label=_("Give it to")
    )
    reason = CleanTextField(label=_("Why (optional)"), max_length=1000, required=False)

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = Membership.objects.filter(org=org).select_related("user")
        self.fields["owner"].label_from_instance = lambda m: m.display_name


class DeadlineForm(forms.Form):
    due_at = forms.DateTimeField(
        label=_("New deadline"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    reason = CleanTextField(
        label=_("Why it changes"),
        max_length=1000,
        help_text=_("A deadline is a promise: the reason stays in the history."),
    )
    customer_reason = CleanTextField(
        label=_("What to tell the customer"),
        max_length=300,
        required=False,
        help_text=_(
            "In words for the customer, e.g. “the part is on back order”. Their status "
            "page shows it beside the new date."
        ),
        error_messages={
            "required": _("Say why, in words for the customer: they were promised this date.")
        },
    )

    def __init__(self, *args, org, reachable: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.org = org
        # A customer who can be written to is owed a reason in their own words (and then a
        # note); for one who can't, their status page still shows it when given.
        self.fields["customer_reason"].required = reachable

    def clean_due_at(self):
        value: datetime = self.cleaned_data["due_at"]
        # The member types their own business's local time, whatever the server's zone.
        return value.replace(tzinfo=None).replace(tzinfo=self.org.tz)


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=[(s, s.label) for s in Action.OPEN_STATUSES])


class TagsForm(forms.Form):
    tags = CleanTextField(
        label=_("Tags"), max_length=500, required=False, help_text=_("Separate tags with commas.")
    )

    def names(self) -> list[str]:
        return [n.strip() for n in self.cleaned_data["tags"].split(",") if n.strip()]


class CloseForm(forms.Form):
    status = forms.ChoiceField(
        choices=[(s, s.label) for s in Action.CLOSED_STATUSES],
        widget=forms.RadioSelect,
        initial=Action.Status.DONE,
        label=_("Outcome"),
    )
    resolution = CleanTextField(
        label=_("What we did (or why not)"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("The customer will read this."),
        error_messages={"required": _("Say what you did (or why not): the customer will read it.")},
    )
    cause = forms.ModelChoiceField(
        queryset=Cause.objects.none(),
        to_field_name="code",
        required=False,
        label=_("Why it happened"),
        empty_label=_("Choose…"),
        help_text=_("From your business's list of causes: the dashboard shows which come back."),
        error_messages={"required": _("Choose why it happened: the dashboard counts causes.")},
    )

    def __init__(self, *args, action: Action | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        # A problem is asked for its cause once the business has a list; suggestions and
        # praise have none.
        causes = Cause.objects.none()
        if action is not None and action.kind == Kind.PROBLEM:
            causes = Cause.objects.filter(org=action.org_id, active=True)
        self.fields["cause"].queryset = causes
        self.fields["cause"].required = causes.exists()
        self.asks_cause = self.fields["cause"].required


class LoopMessageForm(forms.Form):
    subject = CleanTextField(label=_("Subject"), max_length=200)
    body = CleanTextField(
        label=_("Message"), max_length=5000, widget=forms.Textarea(attrs={"rows": 10})
    )


class LateNoteForm(forms.Form):
    """A member's note to the customer about a moved deadline: edited, previewed, sent."""

    change = forms.IntegerField(widget=forms.HiddenInput)
    subject = CleanTextField(label=_("Subject"), max_length=200)
    body = CleanTextField(
        label=_("Message"), max_length=5000, widget=forms.Textarea(attrs={"rows": 6})
    )


class LinkForm(forms.Form):
    target = forms.CharField(label=_("Same problem as"), max_length=80)


class OutcomeForm(forms.Form):
    answer = forms.ChoiceField(choices=[("yes", "Yes"), ("no", "No")])
    comment = CleanTextField(
        label="What's still wrong? (optional)",
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class RoutingRuleForm(forms.ModelForm):
    question_key = forms.TypedChoiceField(
        label=_("Question"), required=False, empty_value=None, coerce=str
    )
    name = CleanTextField(label=_("Name"), max_length=120, required=False)
    choice = CleanTextField(
        label=_("Choice"),
        max_length=200,
        required=False,
        help_text=_("For “a given choice”: the choice, as the customer sees it."),
    )

    class Meta:
        model = RoutingRule
        fields = [
            "name",
            "condition",
            "touchpoint",
            "question_key",
            "threshold",
            "choice",
            "owner_strategy",
            "members",
            "deadline_amount",
            "deadline_unit",
            "kind",
            "active",
        ]
        widgets = {"members": forms.CheckboxSelectMultiple}
        help_texts = {
            "threshold": _("For ratings: 1 to 5; a rating at or below this opens an action."),
            "members": _(
                "For “a named member” pick one; for round-robin, everyone who takes turns."
            ),
        }

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        self.org = org
        self.fields["touchpoint"].queryset = Touchpoint.objects.filter(org=org)
        self.fields["touchpoint"].empty_label = _("Any touchpoint")
        members = self.fields["members"]
        members.queryset = Membership.objects.filter(org=org).select_related("user")
        members.label_from_instance = lambda m: m.display_name
        questions = (
            Question.objects.filter(version__survey__org=org)
            .select_related("version__survey")
            .order_by("version__survey__name", "-version__number", "position")
        )
        seen, choices = set(), [("", _("Any question"))]
        for question in questions:
            if question.key not in seen:
                seen.add(question.key)
                choices.append((str(question.key), f"{question.version.survey}: {question.text}"))
        self.fields["question_key"].choices = choices
        if self.instance.question_key:
            self.initial["question_key"] = str(self.instance.question_key)
        self.fields["deadline_amount"].min_value = 1

    def clean(self):
        data = super().clean()
        Condition, Strategy = RoutingRule.Condition, RoutingRule.OwnerStrategy
        condition, strategy = data.get("condition"), data.get("owner_strategy")
        members = data.get("members") or []
        if condition == Condition.NO_ON_QUESTION and not data.get("question_key"):
            self.add_error("question_key", _("Choose the question."))
        if condition == Condition.RATING_AT_MOST and not 1 <= (data.get("threshold") or 0) <= 5:
            self.add_error("threshold", _("Choose a rating from 1 to 5."))
        if condition == Condition.CHOICE_IS and not data.get("choice"):
            self.add_error("choice", _("Type the choice."))
        if strategy == Strategy.MEMBER and len(members) != 1:
            self.add_error("members", _("Choose exactly one member."))
        if strategy == Strategy.ROUND_ROBIN and len(members) < 2:
            self.add_error("members", _("Choose at least two members to take turns."))
        if not 1 <= (data.get("deadline_amount") or 0) <= 200:
            self.add_error("deadline_amount", _("Choose from 1 to 200."))
        return data

    def clean_question_key(self):
        value = self.cleaned_data.get("question_key")
        if value and value not in {c for c, _label in self.fields["question_key"].choices}:
            raise ValidationError(_("Choose one of your questions."))
        return value or None


class StillSortedForm(OutcomeForm):
    """ "Is it still sorted?": the follow-up's one question."""

    comment = CleanTextField(
        label=_("What came back? (optional)"),
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class CauseForm(forms.Form):
    name = CleanTextField(label=_("Cause"), max_length=60)


class CauseEditForm(CauseForm):
    active = forms.BooleanField(
        label=_("Offered when closing"), required=False, help_text=_("Untick to retire it.")
    )
