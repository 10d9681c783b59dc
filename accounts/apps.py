from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from anymail.signals import inbound, tracking

        from . import inbound as inbound_mail

        # What providers' webhooks report about Heard's email becomes InboundEvent rows.
        tracking.connect(inbound_mail.on_tracking, dispatch_uid="heard.inbound.tracking")
        inbound.connect(inbound_mail.on_inbound, dispatch_uid="heard.inbound.inbound")
