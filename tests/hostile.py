"""Hostile inputs for tests: the strings and bodies a stranger may send, from
``tests/data/hostile-inputs.json`` (grow that file with whatever a test finds)."""

import json
from functools import cache
from pathlib import Path

_PATH = Path(__file__).resolve().parent / "data" / "hostile-inputs.json"


@cache
def load_hostile_inputs() -> dict:
    return json.loads(_PATH.read_text())


def hostile_strings(*categories: str) -> list[str]:
    """Every string of the named categories (all text categories when none are named)."""
    data = load_hostile_inputs()
    names = categories or (
        "markup",
        "spreadsheet_formulas",
        "header_injection",
        "unicode",
        "sql_and_paths",
    )
    return [value for name in names for value in data[name]]
