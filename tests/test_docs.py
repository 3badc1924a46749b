"""docs/artifacts.md documents every table in SCHEMAS, column by column, so the two cannot drift apart."""

import re
from pathlib import Path

import pytest

from air_core.artifacts import EMBEDDING, PROBS, SCHEMAS

DOC = Path(__file__).resolve().parents[1] / "docs" / "artifacts.md"
DOC_TYPES = {EMBEDDING: "fixed_size_list<float32>[D]", PROBS: "fixed_size_list<float32>[C]"}


def _sections() -> dict[str, list[str]]:
    """Table name -> lines of the section under the heading that names it in backticks."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    sections: dict[str, list[str]] = {}
    current = None
    in_code = False
    for line in lines:
        if line.startswith("```"):
            in_code = not in_code
        if not in_code and re.match(r"#{1,6} ", line):
            named = [n for n in re.findall(r"`([^`]+)`", line) if n in SCHEMAS]
            current = named[0] if len(named) == 1 else None
            if current is not None:
                assert current not in sections, f"table '{current}' has two headings in {DOC}"
                sections[current] = []
            continue
        if current is not None:
            sections[current].append(line)
    return sections


SECTIONS = _sections()


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_every_table_has_a_heading(name):
    assert name in SECTIONS, f"{DOC} has no heading with `{name}`"


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_every_column_is_documented(name):
    rows = {}
    for line in SECTIONS.get(name, []):
        match = re.match(r"\| `([^`]+)` \|([^|]*)\|", line)
        if match:
            rows[match.group(1)] = match.group(2).strip().strip("`")
    missing = [c for c in SCHEMAS[name] if c not in rows]
    assert not missing, f"table '{name}': columns {missing} have no row '| `column` |' in {DOC}"
    stale = [c for c in rows if c not in SCHEMAS[name]]
    assert not stale, f"table '{name}': {DOC} documents columns {stale} that SCHEMAS does not have"
    assert list(rows) == list(SCHEMAS[name]), f"table '{name}': columns out of order in {DOC}"
    for col, (kind, _) in SCHEMAS[name].items():
        assert rows[col] == DOC_TYPES.get(kind, kind), f"table '{name}' column '{col}': type in {DOC} is {rows[col]}"
