"""Errors that reach the operator as one clear line and an exit code (DESIGN.md: exit codes)."""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_WARNINGS = 3
EXIT_INTERRUPTED = 130     # Ctrl-C, as shells report SIGINT

# a part the operator stopped, over one refused for its usage or config, over failure, over warnings
_SEVERITY = {EXIT_OK: 0, EXIT_WARNINGS: 1, EXIT_FAILED: 2, EXIT_USAGE: 3, EXIT_INTERRUPTED: 4}


def worst_exit(a: int, b: int) -> int:
    """The exit code of a run made of several parts, whatever their order (_SEVERITY)."""
    return max(a, b, key=lambda code: (_SEVERITY.get(code, 2), code))


class RabtuiError(Exception):
    """An error the operator can act on. Its message is shown as is, never a traceback."""

    exit_code = EXIT_FAILED
    job_status = "failed"     # how a job that stops on it ends

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.undelivered: list[str] = []   # notifications of this failure that could not be sent

    def __str__(self) -> str:
        """The hint on the message's line (a reason in the catalog, a log line, a job's summary);
        the command line prints the hint's lines under the message (cli._say)."""
        hint = one_line(self.hint or "")
        return f"{self.message}; {hint}" if hint else self.message

    def hint_lines(self) -> list[str]:
        """The hint's lines (a command's last output lines, say), without blank ones."""
        return _lines(self.hint or "")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def one_line(text: str) -> str:
    """A command's output (or a hint) as one line of a reason: its lines stripped, blank ones
    dropped, joined by " | "."""
    return " | ".join(_lines(text))


class UsageError(RabtuiError):
    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """Bad configuration: the message names file, line and key."""


class MissingTool(RabtuiError):
    """rsync, ssh or xorriso is not installed."""


class WorkFailed(RabtuiError):
    """A backup, checkpoint or restore failed."""


class Stalled(WorkFailed):
    """A process wrote nothing for longer than it was allowed to (and was killed)."""


class TimedOut(WorkFailed):
    """A process ran longer than it was allowed to, and was killed: it failed, nobody cancelled it."""


class Cancelled(RabtuiError):
    """The operator (or a signal) cancelled the work."""

    job_status = "cancelled"


class NoAnswer(Cancelled):
    """A question that nothing can answer (no terminal to ask on: cron, a script): work that needs
    the answer stops; work to which the question only adds (rebuild-state's discs) goes on without.
    Nobody cancelled the work that stops: its job failed."""

    job_status = "failed"


class LockBusy(RabtuiError):
    """Another job holds the lock of this source or drive."""
