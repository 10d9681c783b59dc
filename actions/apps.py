from django.apps import AppConfig


class ActionsConfig(AppConfig):
    name = "actions"
    verbose_name = "Actions"

    def ready(self):
        # The one seam between apps: surveys announces a submitted response, actions routes it.
        from . import receivers  # noqa: F401
