#!/usr/bin/env python3
"""Write the table of config keys into README.md (between its "config keys" markers), from the model
in rabtui/config/model.py. tests/test_config_schema.py fails while the README's table is not current.

    .venv/bin/python scripts/config_keys.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rabtui.config.schema import readme_table  # noqa: E402

BEGIN = "<!-- config keys: made by scripts/config_keys.py from rabtui/config/model.py -->\n"
END = "<!-- end of config keys -->\n"


def replaced(readme: str) -> str:
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    return readme[:start] + readme_table() + readme[end:]


def main() -> int:
    path = ROOT / "README.md"
    text = path.read_text(encoding="utf-8")
    new = replaced(text)
    if new != text:
        path.write_text(new, encoding="utf-8")
        print(f"{path}: table of config keys written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
