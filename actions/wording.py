"""What Heard drafts for a member to send a customer, in the language active when called
(``services.draft_language``, the customer's). The member edits every draft before it goes.

Kept apart from the services, whose refusals are staff text, so that
``tests/test_translations.py`` checks this module like a customer template."""

from django.utils.translation import gettext


def loop_draft(
    *, kind: str, wont_do: bool, resolution: str, signature: str, business: str
) -> tuple[str, str]:
    """(subject, body) telling the customer what was done: sorry for a problem, thanks for
    praise or an idea, then what was done (or why not), then who did it."""
    if kind == "problem":
        opening = gettext("Thank you for telling us, and I'm sorry we let you down.")
    elif kind == "praise":
        opening = gettext("Thank you for your kind words: they made our day.")
    else:
        opening = gettext("Thank you for your suggestion.")
    if wont_do:
        outcome = gettext(
            "We've thought about it carefully, and this is where we landed: %(resolution)s"
        ) % {"resolution": resolution}
    else:
        outcome = gettext("Here's what we did: %(resolution)s") % {"resolution": resolution}
    subject = gettext("What we did about your feedback to %(business)s") % {"business": business}
    return subject, "\n\n".join([opening, outcome, signature])


def late_draft(*, reason: str, new_date: str, signature: str, business: str) -> tuple[str, str]:
    """(subject, body) telling the customer their deadline moved, from the member's own
    customer-facing reason (none: just the apology)."""
    lines = [
        gettext("We're running late: %(reason)s; new date %(date)s.")
        % {"reason": reason, "date": new_date}
        if reason
        else "",
        gettext("I'm sorry for the wait. I'll let you know as soon as it's done."),
        signature,
    ]
    subject = gettext("A new date for your feedback to %(business)s") % {"business": business}
    return subject, "\n\n".join(line for line in lines if line)
