"""The engine never imports textual or rich: only rabtui.tui (and the CLI for rich) may."""

import pkgutil
import subprocess
import sys

import rabtui

FRONTS = ("rabtui.tui", "rabtui.cli", "rabtui.__main__")


def engine_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(rabtui.__path__, prefix="rabtui."):
        if not info.name.startswith(FRONTS):
            names.append(info.name)
    return names


def test_engine_does_not_import_textual_or_rich():
    modules = engine_modules()
    assert "rabtui.config" in modules and "rabtui.store" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the engine imported: {out.stdout.strip()}"
