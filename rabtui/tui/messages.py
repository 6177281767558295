"""Small messages the screens exchange (posted from the app thread only)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from rabtui.actions.jobs import JobsSnapshot


@dataclass
class JobsPolled(Message):
    """The newest poll of the jobs; a newer one replaces an older one that is still queued."""

    snapshot: JobsSnapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobsPolled)


@dataclass
class ConfigChanged(Message):
    """The config file was saved (Sources): screens reload what they show."""
