"""What setting rabtui up asks of the engine: the run-due timers (`schedule install`), the
notification URLs check-config tries."""

from __future__ import annotations

from pathlib import Path

from rabtui import privacy
from rabtui.errors import UsageError
from rabtui.ops import notify, program_files, schedule


def schedule_units(config_path: Path) -> dict[str, str]:
    """The systemd service and timer that call run-due, and the crontab line, by name; UsageError
    when another user could change what they run (it would run their code as this user)."""
    texts = schedule.units(config_path)
    why = program_files.changeable(schedule.rabtui_argv(config_path))
    if why:
        raise UsageError(f"the timer would run code that another user can change: {why}; nothing was written",
                         hint="give it to root or to you, closed to others (chown, chmod go-w), or install"
                              " rabtui where only root can write")
    return texts


def default_unit_dir() -> Path:
    return schedule.default_unit_dir()


def install_units(texts: dict[str, str], unit_dir: Path) -> list[Path]:
    """Write the units; the paths written. UsageError where another user could change them once
    written (a unit directory of theirs, or on the way to it): the timer would run their command."""
    why = privacy.others_can_change(unit_dir)
    if why:
        raise UsageError(f"the units would go where another user can change them: {why}; nothing was written",
                         hint="give the directory and those above it to this user or root (chown), closed to"
                              " others (chmod go-w), or name another with --unit-dir")
    return schedule.install(texts, unit_dir)


def apprise_url_problems(urls: list[str]) -> list[str]:
    """What is wrong with the apprise URLs (checked by check-config only: loading apprise on every
    command would slow them all)."""
    return notify.apprise_url_problems(urls)
