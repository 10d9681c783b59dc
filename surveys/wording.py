"""What a customer is told from Python, in their language (README, "Languages").

The customer's pages say most things in their templates; the few refusals built in code live
here, each through the catalogues, so ``tests/test_translations.py`` checks this module like a
customer template and the staff screens' modules can be marked without counting as customer
text. Nothing here imports the models: ``Answer.fields_for`` uses it too.
"""

from django.utils.formats import number_format
from django.utils.translation import gettext, gettext_lazy

from accounts.text import is_storable

#: A tampered form or link sent a value the question doesn't offer, by the question's kind.
CHOOSE = {
    "yes_no": gettext_lazy("Choose yes or no."),
    "rating": gettext_lazy("Choose a number from 1 to 5."),
}
CHOOSE_ONE = gettext_lazy("Choose one of the options.")
NOT_IN_SURVEY = gettext_lazy("That question isn't part of this survey.")
NAME_UNSTORABLE = gettext_lazy("Your name contains a character we can't store; remove it.")
EMAIL_SHAPE = gettext_lazy("That doesn't look like an email address. Leave it empty if you like.")


def position(number: int, total: int) -> str:
    """Where a question sits in the survey ("2 of 5")."""
    return gettext("%(number)s of %(total)s") % {"number": number, "total": total}


def count(number: int) -> str:
    """A count as the active language writes it (2,000 · 2 000 · 2.000 · ٢٬٠٠٠ is left to
    the locale's own formats)."""
    return number_format(number, force_grouping=True)


def text_problem(text: str, limit: int) -> str:
    """Why the customer's words can't be kept as they are, or ``""``."""
    if len(text) > limit:
        return gettext(
            "That's %(count)s characters; the limit is %(limit)s. Please shorten it a little "
            "so we can keep every word."
        ) % {"count": count(len(text)), "limit": count(limit)}
    if not is_storable(text):
        return gettext(
            "Your text contains a character we can't store (a null character); remove it."
        )
    return ""
