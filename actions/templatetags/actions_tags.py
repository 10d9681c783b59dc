from datetime import timedelta

from django import template

from actions.durations import duration_words

register = template.Library()


@register.simple_tag
def due_state(action, now) -> str:
    """The badge class for an action's deadline: danger when overdue, warn within a day."""
    if action.is_overdue(now):
        return "danger"
    if action.status not in action.CLOCK_RUNNING_STATUSES:
        return ""
    if action.due_at - now < timedelta(hours=24):
        return "warn"
    return ""


@register.simple_tag
def overdue_by(action, now) -> str:
    """How long past its deadline the action is, in the words the rest of Heard uses."""
    return duration_words(now - action.due_at)
