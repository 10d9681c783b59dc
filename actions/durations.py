"""Durations in words, short enough for a badge or a figure: "5 min", "3 h", "2.5 h",
"2.5 days". The inbox's "Overdue by …", the history's "the clock was paused for …" and the
dashboard's median times all use this one formatter, so the same span reads the same way."""

from datetime import timedelta

NONE = "—"


def duration_words(value: timedelta | None) -> str:
    """``value`` in words: minutes under an hour (at least "1 min"), hours under two days
    (one decimal under ten hours, "2.5 h"), days after that ("2.5 days"); "—" for None.
    A negative span reads as its length."""
    if value is None:
        return NONE
    hours = abs(value.total_seconds()) / 3600
    if hours < 1:
        return f"{max(1, round(hours * 60))} min"
    if hours < 48:
        return f"{hours:.0f} h" if hours >= 10 else f"{hours:.1f} h".replace(".0 ", " ")
    return f"{hours / 24:.1f} days".replace(".0 ", " ")
