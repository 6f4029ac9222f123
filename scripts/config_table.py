"""Print the README's configuration table from `service.settings.Settings`.

`python scripts/config_table.py` writes a markdown table (variable, default, meaning);
tests/unit/test_readme.py checks that the README lists every setting, so the table
cannot silently fall behind the code.
"""

from __future__ import annotations

from pydantic_core import PydanticUndefined

from service.settings import Settings


def rows() -> list[tuple[str, str, str]]:
    out = []
    for name, field in Settings.model_fields.items():
        default = "" if field.default is PydanticUndefined else field.default
        shown = f"`{default}`" if default not in ("", None) else "(empty)"
        out.append((f"`O3_{name.upper()}`", shown, field.description or ""))
    return out


def main() -> None:
    print("| variable | default | meaning |")
    print("|---|---|---|")
    for var, default, meaning in rows():
        print(f"| {var} | {default} | {meaning} |")


if __name__ == "__main__":
    main()
