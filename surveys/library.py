"""A library of customer-centred questions, per kind of business.

Every question asks about something the customer cares about (was it in stock, did the person
know their stuff, was it quick, was the price as expected), never about how likely they are to
recommend the business. Owners add them to a survey with one click and can reword them.

The texts are English and marked for translation (``N_``): a question added unchanged from here
is shown to each customer in their language from the catalogues under locale/, so the library
ships in every language Heard does (surveys.languages.shown).
"""

from dataclasses import dataclass, field

from django.utils.translation import gettext_noop as N_

YES_NO = "yes_no"
RATING = "rating"
CHOICE = "choice"
TEXT = "text"


@dataclass(frozen=True)
class TemplateQuestion:
    id: str
    kind: str
    text: str
    choices: tuple[str, ...] = field(default_factory=tuple)
    low_label: str = ""
    high_label: str = ""

    def as_fields(self) -> dict:
        """The keyword arguments that create a Question from this template."""
        return {
            "kind": self.kind,
            "text": self.text,
            "choices": list(self.choices),
            "low_label": self.low_label,
            "high_label": self.high_label,
        }


def _q(id, kind, text, choices=(), low="", high="") -> TemplateQuestion:
    return TemplateQuestion(id, kind, text, tuple(choices), low, high)


LIBRARY: dict[str, dict] = {
    "retail": {
        "name": "Shop (bike shop, retail)",
        "questions": [
            _q("retail-stock", YES_NO, N_("Was what you needed in stock?")),
            _q("retail-knew", YES_NO, N_("Did our staff know what they were talking about?")),
            _q("retail-quick", YES_NO, N_("Were you served quickly?")),
            _q("retail-price", YES_NO, N_("Was the price what you expected?")),
            _q("retail-find", YES_NO, N_("Could you find what you were looking for?")),
            _q(
                "retail-help",
                RATING,
                N_("How helpful were we?"),
                low=N_("Not at all"),
                high=N_("Very"),
            ),
        ],
    },
    "repair": {
        "name": "Repair or service",
        "questions": [
            _q("repair-ontime", YES_NO, N_("Was it ready when we said it would be?")),
            _q("repair-fixed", YES_NO, N_("Is it fixed properly?")),
            _q(
                "repair-explained",
                YES_NO,
                N_("Did we explain what we did in words that made sense?"),
            ),
            _q("repair-price", YES_NO, N_("Was the price what we told you it would be?")),
            _q("repair-updates", YES_NO, N_("Did we keep you posted while you waited?")),
            _q(
                "repair-care",
                RATING,
                N_("How carefully did we treat your things?"),
                low=N_("Carelessly"),
                high=N_("With care"),
            ),
        ],
    },
    "food": {
        "name": "Restaurant or café",
        "questions": [
            _q("food-quick", YES_NO, N_("Were you served quickly?")),
            _q("food-right", YES_NO, N_("Was your order right?")),
            _q("food-taste", RATING, N_("How was the food?"), low=N_("Poor"), high=N_("Delicious")),
            _q("food-price", YES_NO, N_("Was it good value for the price?")),
            _q("food-welcome", YES_NO, N_("Did you feel welcome?")),
            _q("food-clean", YES_NO, N_("Was everywhere clean?")),
        ],
    },
    "software": {
        "name": "Software support",
        "questions": [
            _q("sw-solved", YES_NO, N_("Is your problem solved?")),
            _q(
                "sw-knew",
                YES_NO,
                N_("Did the person helping you know what they were talking about?"),
            ),
            _q("sw-quick", YES_NO, N_("Did you get an answer quickly enough?")),
            _q("sw-repeat", YES_NO, N_("Did you have to explain your problem more than once?")),
            _q(
                "sw-effort",
                RATING,
                N_("How easy was it to get help?"),
                low=N_("Hard"),
                high=N_("Easy"),
            ),
            _q(
                "sw-channel",
                CHOICE,
                N_("How would you rather reach us next time?"),
                choices=(N_("Email"), N_("Phone"), N_("Chat")),
            ),
        ],
    },
    "general": {
        "name": "Any business",
        "questions": [
            _q("any-needed", YES_NO, N_("Did you get what you came for?")),
            _q("any-quick", YES_NO, N_("Were you served quickly?")),
            _q("any-knew", YES_NO, N_("Did our staff know what they were talking about?")),
            _q("any-price", YES_NO, N_("Was the price what you expected?")),
            _q("any-other", TEXT, N_("Is there anything we should have done differently?")),
        ],
    },
}


def template_question(template_id: str) -> TemplateQuestion | None:
    for kind in LIBRARY.values():
        for question in kind["questions"]:
            if question.id == template_id:
                return question
    return None


def business_kind_choices() -> list[tuple[str, str]]:
    return [(key, kind["name"]) for key, kind in LIBRARY.items()]
