"""The engine never imports textual or rich: only rabtui.tui (and the CLI for rich) may. The command
line loads textual only when the UI opens."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import rabtui

FRONTS = ("rabtui.tui", "rabtui.cli", "rabtui.__main__", "rabtui.program")


def engine_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(rabtui.__path__, prefix="rabtui."):
        if not info.name.startswith(FRONTS):
            names.append(info.name)
    return names


def test_the_layer_contracts_of_pyproject_hold():
    """import-linter's contracts (pyproject.toml): the engine never imports the fronts, textual or
    rich; the UI never imports the command line; the fronts reach the engine only through actions,
    read-only queries and plain data modules; no import cycles."""
    root = Path(rabtui.__file__).resolve().parent.parent
    out = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache", "--no-logo"],
                         cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 kept, 0 broken" in out.stdout


def test_engine_does_not_import_textual_or_rich():
    modules = engine_modules()
    assert "rabtui.config" in modules and "rabtui.state.store" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the engine imported: {out.stdout.strip()}"


def test_the_command_line_loads_textual_only_for_the_ui():
    code = (
        "import sys\n"
        "from rabtui.cli import build_parser\n"
        "parser = build_parser()\n"
        "for argv in (['backup', 'web1'], ['--config', 'x.toml', 'checkpoint', 'burn', '--job-id', '3'],\n"
        "             ['sources', 'test'], ['run-due'], ['jobs', 'list'], ['restore', 'web1', '/etc', '--to', 'd']):\n"
        "    parser.parse_args(argv)\n"
        "print('loaded:', ','.join(sorted(m for m in sys.modules if m.split('.')[0] == 'textual')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout.strip().splitlines()[-1].removeprefix("loaded:").strip()
    assert loaded == "", f"the command line imported: {loaded}"


def test_each_command_builds_the_same_parser_alone():
    """main() builds only the parsers of the module that holds the command: the map of command
    words must name every command, each with the module that registers it."""
    from rabtui.cli import COMMANDS, _command_word, build_parser, common

    full = build_parser()._subparsers._group_actions[0].choices
    assert set(COMMANDS) == set(full)
    for word, module in COMMANDS.items():
        alone = build_parser(word)._subparsers._group_actions[0].choices
        # a word given without its action runs common.needs_action's
        assert word in alone and full[word].get_default("func").__module__ in (module.__name__, common.__name__)
        assert alone[word].format_help() == full[word].format_help()
    assert _command_word(["--config", "x.toml", "backup", "web"]) == "backup"
    assert _command_word(["--config=x.toml", "status"]) == "status"
    assert _command_word(["--help", "backup"]) is None
    assert _command_word([]) is None


def test_the_fronts_and_the_actions_hold_no_sql():
    """SQL lives in rabtui/state/: the screens, the commands and the actions read through
    rabtui.state.queries (and the state modules), never by a statement of their own."""
    import re

    root = Path(rabtui.__file__).resolve().parent
    sql = re.compile(r"\.(execute|one|all)\(|\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b")
    found = [f"{path.relative_to(root)}:{n}: {line.strip()}"
             for part in ("cli", "tui", "actions") for path in sorted((root / part).rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if sql.search(line)]
    assert found == []
