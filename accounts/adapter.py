import uuid

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from django import forms
from django.contrib.sites.shortcuts import get_current_site
from django.urls import reverse
from django.utils.translation import gettext as _

from .forms import breaks_lines
from .mail import _clean_header
from .models import OutgoingEmail
from .ratelimit import client_network


class AccountAdapter(DefaultAccountAdapter):
    def get_login_redirect_url(self, request):
        return reverse("home")

    def get_signup_redirect_url(self, request):
        return reverse("accounts:settings")

    def _get_login_attempts_cache_key(self, request, **credentials) -> str:
        """The key of the per-account failed-login limit (ACCOUNT_RATE_LIMITS' ``/key``): the
        account *and* the address trying it.

        allauth keys it by account alone, so anyone anywhere could lock an owner out of their
        own business with five wrong passwords. Keyed with the address, a guesser only locks
        themselves out; the per-address cap in settings bounds how many accounts one address
        can try.
        """
        account = super()._get_login_attempts_cache_key(request, **credentials)
        return f"{account}:{client_network(request)}"

    def add_message(self, request, level, message_template=None, message_context=None, **kw):
        # allauth flashes "Confirmation email sent to …" only when the address was new; a
        # taken address gets none. The "check your email" page says it for both.
        if message_template == "account/messages/email_confirmation_sent.txt":
            return
        super().add_message(request, level, message_template, message_context, **kw)

    def clean_email(self, email: str) -> str:
        """Refuse addresses no mail server accepts (RFC 5321 limits) before PostgreSQL would."""
        # The address becomes the To header of every email to this person.
        if breaks_lines(email):
            raise forms.ValidationError(_("An email address must be one line of plain text."))
        email = super().clean_email(email)
        local = email.rpartition("@")[0]
        if len(email) > 254 or len(local) > 64:
            raise forms.ValidationError(_("That email address is too long to be real."))
        return email

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        """Put allauth's emails (verification, password reset, …) in Heard's outbox.

        The request only writes a row, so a slow or failing provider never delays or breaks
        a log-in page; the ``send_queued_emails`` sweep sends it within seconds.
        """
        request = allauth_context.request
        ctx = {"request": request, "email": email, "current_site": get_current_site(request)}
        ctx.update(context)
        message = self.render_mail(template_prefix, email, ctx)
        html = next(
            (body for body, kind in getattr(message, "alternatives", []) if kind == "text/html"),
            "",
        )
        kind = template_prefix.rsplit("/", 1)[-1][:40]
        OutgoingEmail.objects.create(
            # Each of these emails carries its own one-time link, so each is its own email.
            key=f"allauth:{kind}:{uuid.uuid4()}",
            kind=kind,
            to=_clean_header(email),
            from_email=message.from_email,
            subject=_clean_header(message.subject)[:250],
            body_text=message.body if message.content_subtype == "plain" else "",
            body_html=html or (message.body if message.content_subtype == "html" else ""),
        )
