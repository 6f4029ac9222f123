"""Print the README's configuration table from `service.settings.Settings`.

`python scripts/config_table.py` prints a markdown table (variable, default, meaning);
`--write` replaces the table in README.md with it. tests/unit/test_readme.py checks that
the README lists every setting, so the table cannot silently fall behind the code.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic_core import PydanticUndefined

from service.settings import Settings


def rows() -> list[tuple[str, str, str]]:
    out = []
    for name, field in Settings.model_fields.items():
        default = "" if field.default is PydanticUndefined else field.default
        shown = f"`{default}`" if default not in ("", None) else "(empty)"
        out.append((f"`O3_{name.upper()}`", shown, field.description or ""))
    return out


HEADER = "| variable | default | meaning |"


def table() -> str:
    lines = [HEADER, "|---|---|---|"]
    lines += [f"| {var} | {default} | {meaning} |" for var, default, meaning in rows()]
    return "\n".join(lines)


def write_readme(path: Path) -> None:
    text = path.read_text()
    start = text.index(HEADER)
    end = text.index("\n\n", start)
    path.write_text(text[:start] + table() + text[end:])


def main() -> None:
    if "--write" in sys.argv[1:]:
        write_readme(Path(__file__).resolve().parents[1] / "README.md")
    else:
        print(table())


if __name__ == "__main__":
    main()
