"""The engine's hints name command-line flags ("use --overwrite"); on the screens the operator
has controls instead, so a message shown there names the control."""

from __future__ import annotations

import re

# (what the command line says, what the UI says): longest first
HINTS = (
    ("use --overwrite to replace them", 'tick "overwrite existing files" in the restore dialog to replace them'),
    ("restore with --to DIR", "restore into a directory"),
    ("use --force to relabel it", 'answer "Label anyway"'),
    ("--overwrite", '"overwrite existing files"'),
    ("--to DIR", "a directory"),
)


def for_the_ui(message: str) -> str:
    for cli, ui in HINTS:
        message = message.replace(cli, ui)
    return message


def names_a_flag(message: str) -> bool:
    return re.search(r"(^|\s)--[a-z]", message) is not None


def job_failure(job: dict) -> str:
    """"job 7 backup of web1 failed: why", the summary without the status it may begin with."""
    why = job.get("summary") or ("its process is gone" if job["status"] == "dead" else "")
    why = why.removeprefix(f"{job['status']}: ")
    line = f"job {job['id']} {job['title'] or job['kind']} {job['status']}"
    return line + (f": {for_the_ui(why)}" if why else "")
