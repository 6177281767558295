"""A cleanup cancelled (SIGTERM, SIGHUP, a first Ctrl-C) stops at its next safe point: the deletion
under way ends whole, recorded (its tree emptied, the catalog told), and what it had not begun is
kept for the next cleanup, each said (deletion.py)."""

from __future__ import annotations


def cancelled(cancel, done) -> bool:
    """Whether the cleanup was cancelled (recorded in `done`): nothing more is begun."""
    done.cancelled = done.cancelled or (cancel is not None and cancel.is_set())
    return done.cancelled


def left(going, unions, leftovers, say, done) -> None:
    """What a cancelled cleanup had not begun, said kept for the next cleanup."""
    why = "for the next cleanup: this one was cancelled"
    for c in going:
        say(f"kept {c.source} {c.name} on {c.medium} {why}", done.kept)
    for u in unions:
        say(f"kept the .archive/ view of {u.dir} of {u.source} on {u.medium} {why}", done.kept)
    for path in leftovers:
        say(f"left the remains of an interrupted deletion {why}: {path}", done.kept)
