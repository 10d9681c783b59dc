"""Loads ../shared/testdata/hostile-inputs.json (beside the repository, or HEARD_HOSTILE_INPUTS)."""

import json
import os
from functools import cache
from pathlib import Path

_DEFAULT = (
    Path(__file__).resolve().parent.parent.parent / "shared" / "testdata" / "hostile-inputs.json"
)
_FALLBACK = Path(__file__).resolve().parent / "data" / "hostile-inputs.json"


@cache
def load_hostile_inputs() -> dict:
    path = Path(os.environ.get("HEARD_HOSTILE_INPUTS", _DEFAULT))
    if not path.exists():
        path = _FALLBACK
    return json.loads(path.read_text())


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
