"""A library of customer-centred questions, per kind of business.

Every question asks about something the customer cares about (was it in stock, did the person
know their stuff, was it quick, was the price as expected), never about how likely they are to
recommend the business. Owners add them to a survey with one click and can reword them.
"""

from dataclasses import dataclass, field

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
            _q("retail-stock", YES_NO, "Was what you needed in stock?"),
            _q("retail-knew", YES_NO, "Did our staff know what they were talking about?"),
            _q("retail-quick", YES_NO, "Were you served quickly?"),
            _q("retail-price", YES_NO, "Was the price what you expected?"),
            _q("retail-find", YES_NO, "Could you find what you were looking for?"),
            _q("retail-help", RATING, "How helpful were we?", low="Not at all", high="Very"),
        ],
    },
    "repair": {
        "name": "Repair or service",
        "questions": [
            _q("repair-ontime", YES_NO, "Was it ready when we said it would be?"),
            _q("repair-fixed", YES_NO, "Is it fixed properly?"),
            _q("repair-explained", YES_NO, "Did we explain what we did in words that made sense?"),
            _q("repair-price", YES_NO, "Was the price what we told you it would be?"),
            _q("repair-updates", YES_NO, "Did we keep you posted while you waited?"),
            _q(
                "repair-care",
                RATING,
                "How carefully did we treat your things?",
                low="Carelessly",
                high="With care",
            ),
        ],
    },
    "food": {
        "name": "Restaurant or café",
        "questions": [
            _q("food-quick", YES_NO, "Were you served quickly?"),
            _q("food-right", YES_NO, "Was your order right?"),
            _q("food-taste", RATING, "How was the food?", low="Poor", high="Delicious"),
            _q("food-price", YES_NO, "Was it good value for the price?"),
            _q("food-welcome", YES_NO, "Did you feel welcome?"),
            _q("food-clean", YES_NO, "Was everywhere clean?"),
        ],
    },
    "software": {
        "name": "Software support",
        "questions": [
            _q("sw-solved", YES_NO, "Is your problem solved?"),
            _q("sw-knew", YES_NO, "Did the person helping you know what they were talking about?"),
            _q("sw-quick", YES_NO, "Did you get an answer quickly enough?"),
            _q("sw-repeat", YES_NO, "Did you have to explain your problem more than once?"),
            _q("sw-effort", RATING, "How easy was it to get help?", low="Hard", high="Easy"),
            _q(
                "sw-channel",
                CHOICE,
                "How would you rather reach us next time?",
                choices=("Email", "Phone", "Chat"),
            ),
        ],
    },
    "general": {
        "name": "Any business",
        "questions": [
            _q("any-needed", YES_NO, "Did you get what you came for?"),
            _q("any-quick", YES_NO, "Were you served quickly?"),
            _q("any-knew", YES_NO, "Did our staff know what they were talking about?"),
            _q("any-price", YES_NO, "Was the price what you expected?"),
            _q("any-other", TEXT, "Is there anything we should have done differently?"),
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
