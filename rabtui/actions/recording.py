"""A command that records in the state database holds the state lock, shared, while it runs: none
records anything while rebuild-state replaces the database (actions/rebuild.py holds the lock
whole), where it would be lost with the old one, kept aside. A command started meanwhile is
refused with "cannot run now: rebuild-state is running since ..., pid ..."; one running keeps
rebuild-state out until it ends."""

from __future__ import annotations

from pathlib import Path

from rabtui.state.locks import Lock, state_lock


def hold_state(state_dir: str | Path) -> Lock:
    """The state lock taken (shared); release() it when the command is done."""
    return state_lock(state_dir).acquire(shared=True)
