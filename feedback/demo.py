"""The demo business's wall entries (issue 5 fills this)."""


def seed(people, touchpoints) -> None:
    return None
