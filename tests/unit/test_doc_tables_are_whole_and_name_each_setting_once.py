"""The tables in the README and docs/ are whole Markdown tables (a blank line inside one would end
it, and the rows after it would show as plain text), and the README's settings table names each
setting the code reads, each once."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from bot.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def settings_table() -> list[str]:
    section = README.read_text().split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| variable |"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    rest = "\n".join(lines[start + len(table) :])
    assert not re.search(r"^\| `", rest, re.M), "a row after the table ended: a blank line inside it?"
    return table[2:]


def test_the_settings_table_names_each_setting_once() -> None:
    named: Counter[str] = Counter()
    for row in settings_table():
        first = row.split("|")[1]
        for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", first):
            named[name] += 1
    twice = sorted(name for name, count in named.items() if count > 1)
    assert twice == [], f"named more than once: {twice}"
    known = {str(field.validation_alias.choices[0]) for field in Settings.model_fields.values()}  # type: ignore[union-attr]
    shorthand = {n for n in known if re.fullmatch(r"SIGNOFF_(IMAP|SMTP)_(PORT|USER|PASSWORD|TLS)", n)}
    missing = sorted(known - shorthand - set(named))
    assert missing == [], f"settings the README does not list: {missing}"


def test_every_table_in_the_docs_starts_with_its_header() -> None:
    """A row that follows a blank line starts a table with no header: Markdown shows it as text."""
    orphans = []
    for path in [README, *sorted((README.parent / "docs").glob("*.md"))]:
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            starts = line.startswith("|") and (i == 0 or not lines[i - 1].startswith("|"))
            if starts and not (i + 1 < len(lines) and re.fullmatch(r"\|[-:| ]+\|", lines[i + 1])):
                orphans.append(f"{path.name}:{i + 1}")
    assert orphans == []
