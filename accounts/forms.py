from django import forms

from .models import TIMEZONES
from .services import organisation_create


class BusinessSignupForm(forms.Form):
    """Extra fields on allauth's sign-up: the person's name and their business."""

    name = forms.CharField(label="Your name", max_length=150)
    business_name = forms.CharField(label="Business name", max_length=120)
    timezone = forms.ChoiceField(
        label="Time zone", choices=[(tz, tz) for tz in TIMEZONES], initial="Europe/London"
    )

    field_order = ["name", "business_name", "timezone", "email", "password1", "password2"]

    def clean_business_name(self):
        value = " ".join(self.cleaned_data["business_name"].split())
        if not any(ch.isalnum() for ch in value):
            raise forms.ValidationError("Give your business a name with letters or numbers in it.")
        return value

    def clean_name(self):
        return " ".join(self.cleaned_data["name"].split())

    def signup(self, request, user):
        user.name = self.cleaned_data["name"]
        user.save(update_fields=["name"])
        organisation_create(
            name=self.cleaned_data["business_name"],
            owner=user,
            timezone=self.cleaned_data["timezone"],
        )
