"""What every command needs: the config, the state database, output that suits cron or a terminal."""

from __future__ import annotations

import argparse
import copy
import errno
import json
import os
import select
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterable, TextIO

from rabtui import config as configmod
from rabtui import fmt
from rabtui.actions.recording import hold_state
from rabtui.config import safety as config_safety
from rabtui.config import Config
from rabtui.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Cancelled, NoAnswer, RabtuiError
from rabtui.events import Question
from rabtui.state.store import Store


def load_config(args, *, check_media: bool = True) -> Config:
    cfg = configmod.load(getattr(args, "config", None), check_media=check_media)
    problem = config_safety.permission_problem(cfg.path)
    if problem:
        refused = ("; its commands (pre/post commands, rsync_path, notify.command) will not run"
                   if any(s.has_commands for s in cfg.sources) or cfg.notify.command else "")
        if cfg.notify.apprise_urls:
            refused += "; its notify.apprise_urls will not be sent to"
        print(fmt.name(f"rabtui: warning: {problem}{refused}"), file=sys.stderr)
    return cfg


# The largest integer the state database holds: a larger id or number cannot name anything there.
LARGEST_ID = 2**63 - 1


def needs_action(parser: argparse.ArgumentParser) -> Callable[[Any], int]:
    """The command of a word given without its action (`rabtui media`): the actions, and bad usage."""
    return lambda args: parser.print_help() or EXIT_USAGE


def given(what: str) -> Callable[[str], str]:
    """The argparse type of an option that names `what` (a file, a folder, a disc type): not empty.
    "" was read as the option left out: `--config ""` made `init` write the default file, and
    `--from-list ""` or `--disc ""` planned the configured directories or disc."""
    def named(text: str) -> str:
        if not text:
            raise argparse.ArgumentTypeError(f"empty: name {what}")
        return text
    return named


def number(text: str) -> int:
    """The argparse type of an id or number (a job, a prompt, a checkpoint, a disc): a whole number
    from 1 to LARGEST_ID in digits 0-9; anything else is a usage error (exit 2), also what int()
    reads though it is no plain number (other scripts' digits, a sign, spaces, "1_0")."""
    if not (text.isascii() and text.isdigit()):
        shown = fmt.cut_middle(fmt.name(text), 40)     # quoted: spaces seen, and nothing
        raise argparse.ArgumentTypeError(f'not a whole number: "{shown}" (write it in digits 0-9)')
    digits = text.lstrip("0") or "0"    # (int() refuses more than 4,300 digits)
    if len(digits) > len(str(LARGEST_ID)) or not 1 <= int(digits) <= LARGEST_ID:
        said = digits if len(digits) <= 30 else f"{digits[:12]}... ({len(digits)} digits)"
        raise argparse.ArgumentTypeError(f"{said} is out of range: give a number from 1 to {LARGEST_ID}")
    return int(digits)


_stores: list[Store] = []
_held: list = []     # the state lock, held by a command that records


def open_store(cfg: Config, *, records: bool = True, full_ok: bool = False) -> Store:
    """The state database; `close_stores` closes it when the command is done. `records`: the
    command writes in it, and holds the state lock (shared) until then: refused while rebuild-state
    replaces the database. `full_ok`: a full state directory is not refused (Store)."""
    store = Store(cfg.state_dir, full_ok)     # first: a state directory that is full or read-only is said so
    _stores.append(store)
    if records:
        _held.append(hold_state(cfg.state_dir))
    return store


def state_db_path():
    """The database the command opened last (for the message of an error met while using it)."""
    return _stores[-1].path if _stores else None


def close_stores() -> None:
    """Close the databases the command opened (in this thread): SQLite writes the WAL into the
    database and syncs it on the last close, so what the command recorded is on disk when it exits."""
    while _stores:
        _stores.pop().close()
    while _held:
        _held.pop().release()


def is_tty(stream=None) -> bool:
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty()


def warn_undelivered(problems: list[str]) -> None:
    """Notifications that could not be sent: a warning line each, the run's exit code unchanged."""
    for problem in problems:
        say(fmt.lines(f"rabtui: warning: {problem}"), sys.stderr)


def say(text: str, stream: TextIO | None = None) -> None:
    """A line of a run's output (default: stdout). When its reader went away (`| head`, a closed
    pipe, a terminal gone), the run goes on without it: what it writes there from then on goes to
    /dev/null, and its exit status stays its own (Python's flush at exit would fail again: 120)."""
    stream = stream or sys.stdout
    try:
        stream.write(text + "\n")
        stream.flush()
    except OSError:
        output_gone(stream)


def output_gone(stream: TextIO) -> None:
    """Its reader went away: what is written to `stream` from now on goes to /dev/null."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):    # not a file: nothing left to write into
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


class Output:
    """sys.stdout while a command runs: a write or flush that fails for another reason than its
    reader gone (EPIPE, `| head`), such as a full disk, /dev/full or an I/O error, is kept, so that
    the command ends saying so, and a report exits non-zero (`ended`) as `ls > /dev/full` does; the error
    still reaches the writer, say() and print_json() go on without the output as before."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.failure: OSError | None = None

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except OSError as exc:
            self._failed(exc)
            raise

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError as exc:
            self._failed(exc)
            raise

    def _failed(self, exc: OSError) -> None:
        if exc.errno != errno.EPIPE and self.failure is None:
            self.failure = exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def ended(self, code: int, reports: bool) -> int:
        """The command's exit status, when its output was lost said on stderr; and EXIT_FAILED
        instead of success for a command whose output is its work (`reports`: find, status, ...),
        not for one whose work is done elsewhere (a restore, a backup: their own status stands).
        What Python flushes at exit goes to /dev/null."""
        if self.failure is None:
            return code
        output_gone(self.stream)
        try:
            print(f"rabtui: cannot write the output: {self.failure.strerror or self.failure}", file=sys.stderr)
        except OSError:
            pass
        return EXIT_FAILED if reports and code == EXIT_OK else code


def print_json(data: Any) -> None:
    """`data` as JSON on stdout, written as it is encoded; a reader gone is taken as say() takes it."""
    try:
        json.dump(data, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        sys.stdout.flush()
    except OSError:
        output_gone(sys.stdout)


class TerminalPrompter:
    """Asks on the terminal; with no terminal (cron) it cannot ask and cancels the work. In a job
    (`in_job`) the question is in the job's prompts too: an answer given in the UI or with
    `rabtui jobs answer` counts as well as one typed here, whichever comes first."""

    def __init__(self, auto: dict[str, str] | None = None, yes_answers: Iterable[str] = ()):
        self.auto = auto or {}   # question kind -> answer given without asking (e.g. --yes)
        self.yes_answers = frozenset(yes_answers)   # kinds the command's --yes would answer: said when none can ask
        self.job = None          # the job's DbPrompter

    def in_job(self, job) -> TerminalPrompter:
        both = copy.copy(self)
        both.job = job
        return both

    def ask(self, question: Question, cancel: threading.Event | None = None) -> str:
        if question.kind in self.auto:
            answer = self.auto[question.kind]
            print(f"{fmt.lines(question.text)}\n  -> {answer}", file=sys.stderr)
            return answer
        if not sys.stdin.isatty():
            hint = " (--yes answers it)" if question.kind in self.yes_answers else ""
            raise NoAnswer(f"needs an answer, but there is no terminal to ask on: {question.text}{hint}")
        if self.job is None:
            return self._ask_here(question, cancel, lambda: None)
        prompt_id = self.job.post(question)
        try:
            reply = self._ask_here(question, cancel, lambda: self.job.reply(prompt_id))
            taken = self.job.take(prompt_id, reply)
            if taken != reply:
                print(f"  -> {taken} (answered first elsewhere)", file=sys.stderr)
            return taken
        finally:
            self.job.closed()

    def _ask_here(self, question: Question, cancel: threading.Event | None, elsewhere: Callable[[], str | None]) -> str:
        choices = list(question.choices)
        while True:
            print(fmt.lines(question.text), file=sys.stderr)
            reply, typed = _read_reply(f"  [{'/'.join(choices)}] (default {choices[0]}): ", cancel, elsewhere)
            if not typed:
                print(f"  -> {reply} (answered in the UI or with rabtui jobs answer)", file=sys.stderr)
                return reply
            reply = reply.strip().lower()
            if not reply:
                return choices[0]
            matches = [c for c in choices if c.startswith(reply)]
            if len(matches) == 1:
                return matches[0]
            print(f"  please answer one of: {', '.join(choices)}", file=sys.stderr)


def _read_reply(prompt: str, cancel: threading.Event | None,
                elsewhere: Callable[[], str | None] = lambda: None) -> tuple[str, bool]:
    """A line typed on the terminal, or the answer given `elsewhere` meanwhile; and whether it
    was typed. The wait ends when `cancel` is set (SIGTERM, SIGHUP: a read from the terminal is
    resumed after a signal, so it is watched instead) and when the input ends (Ctrl-D, the
    terminal gone): both cancel the work."""
    sys.stderr.write(prompt)
    sys.stderr.flush()
    try:
        watched = sys.stdin.fileno() >= 0
    except (AttributeError, OSError, ValueError):   # an input of another kind (no file)
        watched = False
    while watched and not select.select([sys.stdin], [], [], 0.5)[0]:
        if cancel is not None and cancel.is_set():
            sys.stderr.write("\n")
            raise Cancelled("cancelled while waiting for an answer")
        given = elsewhere()
        if given is not None:
            sys.stderr.write("\n")
            return given, False
    line = sys.stdin.readline()
    if not line:
        raise Cancelled("no answer: the input ended (Ctrl-D, or the terminal closed)")
    return line, True


@contextmanager
def cancel_on_signals(cancel):
    """For the duration: SIGTERM and SIGHUP cancel the work cleanly instead of killing it mid-write;
    the first Ctrl-C does too (recorded as cancelled), a second one interrupts. `cancel` has `set()`
    and `is_set()` (a threading.Event, a batch.RunCancel). Only the main thread can set handlers:
    elsewhere nothing is changed."""

    def on_signal(signum, frame):
        cancel.set()

    def on_sigint(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        print("\nrabtui: cancelling (Ctrl-C again to interrupt at once)", file=sys.stderr)
        cancel.set()

    handlers = {signal.SIGTERM: on_signal, signal.SIGHUP: on_signal, signal.SIGINT: on_sigint}
    previous = {}
    try:
        for sig, handler in handlers.items():
            previous[sig] = signal.signal(sig, handler)
    except ValueError:   # not the main thread
        pass
    try:
        yield cancel
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cancel_on_term() -> threading.Event:
    """A cancel event that SIGTERM and SIGHUP set: the work stops cleanly instead of being killed
    mid-write (Ctrl-C interrupts, recorded as such)."""
    cancel = threading.Event()

    def on_signal(signum, frame):
        cancel.set()

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    return cancel


@contextmanager
def read_until_term(what: str):
    """For a command that only reads (find): cancel_on_term's cancel, and the signal that set it said
    as what ended the command, exit 1, once the reading is cut short (SQLite's queries said it as a
    search "superseded", as the console's) and once it has ended too: a signal that came between the
    places that heed the cancel let it print what it found, exit 0, as if never sent. After, the
    signals end the command as they did before (its output, waiting for a reader that reads
    nothing, waited on for good: the write is tried again after a handler)."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    cancel = cancel_on_term()
    ended = Cancelled(f"{what}: cancelled (SIGTERM or SIGHUP)")
    try:
        yield cancel
    except Cancelled as exc:
        if cancel.is_set():
            raise Cancelled(ended.message, hint=exc.hint) from None    # what else it says said too
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if cancel.is_set():
        raise ended


def hint_lines(exc: RabtuiError) -> list[str]:
    """The lines of an error's hint (a command's last output lines, say), each escaped for the
    terminal: a line break in a name makes a line of the hint, never one of its own."""
    return [fmt.name(line) for line in exc.hint_lines()]
