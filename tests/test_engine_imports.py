"""The engine never imports textual or rich: only rabtui.tui (and the CLI for rich) may. The command
line loads the engine only for the command that runs: building its parser imports nothing heavy."""

import pkgutil
import subprocess
import sys

import rabtui

FRONTS = ("rabtui.tui", "rabtui.cli", "rabtui.__main__", "rabtui.program")


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


# Loaded only by the commands that need them: building the parser (every command's start-up,
# `rabtui --help`, each cron run, the TUI's first paint) must not pay for them.
HEAVY = ("paramiko", "invoke", "cryptography", "textual", "rich", "croniter", "tomli_w", "apprise",
         "rabtui.config", "rabtui.remote", "rabtui.jobs", "rabtui.proc", "rabtui.backup.pipeline",
         "rabtui.checkpoint.prepare", "rabtui.schedule")


def test_parsing_a_command_line_loads_no_heavy_module():
    code = (
        "import sys\n"
        "from rabtui.cli import build_parser\n"
        "parser = build_parser()\n"
        "for argv in (['backup', 'web1'], ['--config', 'x.toml', 'checkpoint', 'burn', '--job-id', '3'],\n"
        "             ['sources', 'test'], ['run-due'], ['jobs', 'list'], ['restore', 'web1', '/etc', '--to', 'd']):\n"
        "    parser.parse_args(argv)\n"
        "try:\n"
        "    parser.parse_args(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"heavy = {HEAVY!r}\n"
        "print('loaded:', ','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "usage: rabtui" in out.stdout
    loaded = out.stdout.strip().splitlines()[-1].removeprefix("loaded:").strip()
    assert loaded == "", f"building the parser imported: {loaded}"


def test_every_lazy_module_of_the_command_line_exists():
    import importlib

    from rabtui.cli import MODULES, common, progress

    names = set()
    for module in (*MODULES, common, progress):
        for value in vars(module).values():
            if isinstance(value, common.LazyModule):
                names.add(object.__getattribute__(value, "_name"))
    assert {"rabtui.remote", "rabtui.jobs", "rabtui.checkpoint.run"} <= names
    for name in sorted(names):
        importlib.import_module(name)   # a misspelt name would only fail when its command runs


def test_each_command_builds_the_same_parser_alone():
    """main() builds only the parsers of the module that holds the command: the map of command
    words must name every command, each with the module that registers it."""
    from rabtui.cli import COMMANDS, _command_word, build_parser

    full = build_parser()._subparsers._group_actions[0].choices
    assert set(COMMANDS) == set(full)
    for word, module in COMMANDS.items():
        alone = build_parser(word)._subparsers._group_actions[0].choices
        assert word in alone and full[word].get_default("func").__module__ == module.__name__
        assert alone[word].format_help() == full[word].format_help()
    assert _command_word(["--config", "x.toml", "backup", "web"]) == "backup"
    assert _command_word(["--config=x.toml", "status"]) == "status"
    assert _command_word(["--help", "backup"]) is None
    assert _command_word([]) is None
