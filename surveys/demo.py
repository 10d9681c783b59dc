"""The demo business's touchpoints (and, as surveys grows, its surveys and sample answers)."""

from .models import Touchpoint

TOUCHPOINTS = [
    ("repair-collected", "Repair collected", 60),
    ("in-store-purchase", "In-store purchase", 60),
    ("phone-support", "Phone support", 30),
]


def seed(people) -> list[Touchpoint]:
    touchpoints = []
    for slug, name, delay in TOUCHPOINTS:
        touchpoint, _ = Touchpoint.objects.get_or_create(
            org=people.org,
            slug=slug,
            defaults={"name": name, "send_delay_minutes": delay, "default_owner": people.owner},
        )
        touchpoints.append(touchpoint)
    return touchpoints
