import re

from django import template
from django.utils.html import format_html

register = template.Library()

DEFAULT_BRAND = "#1f6f5c"
_HEX = re.compile(r"#[0-9a-fA-F]{6}")


def _luminance(hex_colour: str) -> float:
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@register.simple_tag(takes_context=True)
def brand_style(context, org=None):
    """A nonce'd <style> setting the organisation's colour, with a text colour that keeps
    WCAG AA contrast on it (the CSP allows no inline style attributes)."""
    colour = getattr(org, "brand_colour", None) or DEFAULT_BRAND
    if not _HEX.fullmatch(colour):
        colour = DEFAULT_BRAND
    on_brand = (
        "#ffffff" if _contrast(colour, "#ffffff") >= _contrast(colour, "#111111") else "#111111"
    )
    # Links and accents on white need 4.5:1; fall back to a dark ink when the brand is light.
    ink = colour if _contrast(colour, "#ffffff") >= 4.5 else "#1d2b36"
    return format_html(
        '<style nonce="{}">:root{{--brand:{};--on-brand:{};--brand-ink:{}}}</style>',
        context.get("csp_nonce", ""),
        colour,
        on_brand,
        ink,
    )
