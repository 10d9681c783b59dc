"""Outside text (forms, the API, CSV rows, customers' answers) as Heard can store and send it.

PostgreSQL refuses a NUL byte in text, and a lone surrogate ("\\ud800") can't be encoded as
UTF-8 at all; a line break or control character in a name that becomes a From or Reply-To
header breaks every email of that business. Every app checks outside text with these
functions, so "storable" means one thing. Three contracts, by name:

- ``is_storable(value)``: a yes/no question; nothing is changed.
- ``text_storable(value, *, limit)``: repairs multi-line text and never refuses it.
- ``line_storable(value, *, what)``: refuses (ValidationError) a line that isn't one
  header-safe line; never changes it.
"""

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

# Control characters (Cc: CR, LF, VT, FF, FS, GS, RS, NEL, NUL…) and the Unicode line and
# paragraph separators (Zl U+2028, Zp U+2029). Python's str.splitlines() and the email package
# treat every one of them as a line break.
_NOT_ONE_LINE = {"Cc", "Zl", "Zp"}


def has_surrogate(value: str) -> bool:
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in value)


def is_storable(value: str) -> bool:
    """True when ``value`` can be stored in any database: no NUL byte, no lone surrogate."""
    return "\x00" not in value and not has_surrogate(value)


def breaks_lines(value: str) -> bool:
    """True if ``value`` holds a line break or control character of any kind."""
    return any(unicodedata.category(ch) in _NOT_ONE_LINE for ch in value)


def text_storable(value: str | None, *, limit: int) -> str:
    """Multi-line text made storable, never refused: NUL bytes dropped, each lone surrogate
    replaced by "?", trimmed, then cut to ``limit`` characters. For text a member typed into
    the app (notes, reasons, what we did), where a stray character isn't worth an error."""
    value = (value or "").replace("\x00", "")
    value = value.encode("utf-8", "replace").decode("utf-8")
    return value.strip()[:limit]


def line_storable(value: str, *, what: str = "") -> str:
    """One line of plain text returned exactly as given, or a ValidationError naming ``what``.

    Refuses a lone surrogate (it can't be encoded) and any line break or control character
    (NUL included: it would end up in an email header or break PostgreSQL). Other Unicode
    (accents, emoji, right-to-left marks) is stored exactly and escaped when shown.
    """
    what = what or gettext("This")
    if has_surrogate(value):
        raise ValidationError(
            # Translators: %(what)s is the field's label, e.g. "Business name".
            gettext("%(what)s contains a broken character; please retype it.") % {"what": what}
        )
    if breaks_lines(value):
        raise ValidationError(
            # Translators: %(what)s is the field's label, e.g. "Business name".
            gettext(
                "%(what)s must be one line of plain text, without line breaks or control "
                "characters."
            )
            % {"what": what}
        )
    return value
