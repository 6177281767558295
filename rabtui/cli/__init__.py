"""The command line: `rabtui` alone opens the TUI; subcommands are for the operator and for cron.

Each group of subcommands lives in its own module with a `register(subparsers)` function; every
command is a function `(args) -> exit code`. Errors the operator can act on (RabtuiError) are
printed as one line with a hint, never as a traceback.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys

from rabtui import __version__, fmt
from rabtui.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, RabtuiError
from rabtui.state.store_check import state_failure

from . import backup_cmds, checkpoint_cmds, common, dashed, lifecycle_cmds, setup_cmds, source_cmds, tui_cmds

MODULES = (setup_cmds, source_cmds, backup_cmds, checkpoint_cmds, lifecycle_cmds, tui_cmds)
# The module of each command word: a command builds only its own module's parsers (all of them
# take argparse ~10 ms, which a backup would pay before its SSH login starts).
COMMANDS = {
    "init": setup_cmds, "check-config": setup_cmds, "config": setup_cmds,
    "sources": source_cmds,
    "backup": backup_cmds, "status": backup_cmds, "media": backup_cmds,
    "checkpoint": checkpoint_cmds,
    **dict.fromkeys(("find", "diff", "restore", "cleanup", "check", "run-due", "schedule", "rebuild-state"),
                    lifecycle_cmds),
    "demo": tui_cmds, "jobs": tui_cmds,
}


CONFIG_PATH = common.given("the configuration file")


class _Parser(argparse.ArgumentParser):
    parent_parser: _Parser | None = None     # the parser whose command this one's is
    words_read: list[str] | None = None

    def parse_known_args(self, args=None, namespace=None):
        if self.parent_parser is None:      # the top one: the commands below read afresh
            dashed.forget_words(self)
        self.words_read = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str):  # exit 2, as the contract says, with the usage line
        mistaken = dashed.mistaken_option(self)     # a name that begins with a dash, taken for an option
        value = dashed.dashed_value(self, message)  # an option's value that begins with one
        if mistaken is not None or value is not None:
            command, said, hint = mistaken or (self, *value)
            command.print_usage(sys.stderr)
            sys.stderr.write(f"rabtui: {fmt.name(said)}\n  {fmt.name(hint)}\n")
        else:
            self.print_usage(sys.stderr)
            sys.stderr.write(f"rabtui: {fmt.name(dashed.valueless(self, message) or message)}\n")
        raise SystemExit(EXIT_USAGE)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or only of `command`'s module."""
    parser = _Parser(
        prog="rabtui",
        description="Backups of remote hosts onto rotating media, with checkpoints on discs.",
    )
    parser.add_argument("--config", metavar="PATH", type=CONFIG_PATH,
                        help="configuration file (else $RABTUI_CONFIG, else the user config file)")
    parser.add_argument("--version", action="version", version=f"rabtui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in (COMMANDS[command],) if command in COMMANDS else MODULES:
        module.register(sub)
    _accept_config_anywhere(parser)
    return parser


def _accept_config_anywhere(parser: argparse.ArgumentParser) -> None:
    """`rabtui backup --config X` works as well as `rabtui --config X backup`."""
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        for child in getattr(action, "choices", {}).values():
            child.parent_parser = parser
            if not any("--config" in a.option_strings for a in child._actions):
                child.add_argument("--config", metavar="PATH", type=CONFIG_PATH, default=argparse.SUPPRESS,
                                   help=argparse.SUPPRESS)
            _accept_config_anywhere(child)


def _command_word(argv: list[str]) -> str | None:
    """The command `argv` names, unless an option before it (--help, --version) needs them all."""
    i = 0
    while i < len(argv):
        if argv[i] == "--config":
            i += 2
        elif argv[i].startswith("--config="):
            i += 1
        else:
            return None if argv[i].startswith("-") else argv[i]
    return None


def _say(exc: RabtuiError) -> None:
    """The error's line, then each line of its hint indented under it: names in them escaped for
    the terminal, and a line break in a name cannot start a line of its own."""
    print(f"rabtui: {fmt.name(exc.message)}" + "".join(f"\n  {line}" for line in common.hint_lines(exc)),
          file=sys.stderr)


def _state_failure(exc: Exception) -> RabtuiError | None:
    """An SQLite error met after the database opened (the disk filled up, a page went bad) as the
    operator's message; None for anything else."""
    if not isinstance(exc, sqlite3.Error):
        return None
    return state_failure(exc, common.state_db_path())


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(_command_word(argv))
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        func = tui_cmds.open_tui
    out = common.Output(sys.stdout)
    sys.stdout = out
    try:
        code = _run(func, args)
    except OSError:
        if out.failure is None:
            raise
        code = EXIT_FAILED       # a line of its report could not be written: it stopped there
    finally:
        sys.stdout = out.stream
    return out.ended(code, getattr(args, "reports", False))


def _run(func, args) -> int:
    try:
        return int(func(args) or EXIT_OK)
    except RabtuiError as exc:
        common.warn_undelivered(exc.undelivered)
        _say(exc)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        print("rabtui: interrupted", file=sys.stderr)
        common.warn_undelivered(getattr(exc, "undelivered", []))
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        failure = _state_failure(exc)
        if failure is None:
            raise
        _say(failure)
        return failure.exit_code
    finally:
        common.close_stores()
