"""The demo business's routing rules and actions (issue 4 fills this)."""


def seed(people, touchpoints) -> None:
    return None
