"""What `rabtui rebuild-state` found and did, as it reports it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rabtui import fmt

if TYPE_CHECKING:
    from rabtui.backup.id_writes import Write


@dataclass
class Report:
    media: list[str] = field(default_factory=list)
    backups: int = 0
    versions: int = 0
    checkpoints: list[int] = field(default_factory=list)
    disc_files: int = 0
    verified: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)      # images that failed verification (said in lacking)
    unchecked: list[str] = field(default_factory=list)   # what verifying them again could not check
    unmatched: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)       # said, with nothing lacking
    lacking: list[str] = field(default_factory=list)     # warnings: what the state rebuilt lacks, and for what
    renumbered: list[str] = field(default_factory=list)
    # ids to write into backup.json once the new database is in place (id_writes.py, scan.write_ids)
    to_write: list["Write"] = field(default_factory=list)
    numbers_used: set[int] = field(default_factory=set)    # checkpoint numbers the media's records name
    abandoned: set[int] = field(default_factory=set)       # checkpoints the media or the discs say were abandoned
    # (source, an id a backup's backup.json held before rebuild-state renumbered it) -> its ids now
    former: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    # (source, directory) -> when a backup found on the media ran out of room on its medium with it
    did_not_fit: dict[tuple[str, str], float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"media found: {', '.join(self.media) or 'none'}",
               f"backups: {self.backups}, catalog versions: {self.versions}",
               f"checkpoints: {', '.join(map(str, self.checkpoints)) or 'none'} ({fmt.count(self.disc_files, 'disc file')})",
               f"discs verified again: {', '.join(self.verified) or 'none'}"
               + (f", but not checked: {'; '.join(self.unchecked)}" if self.verified and self.unchecked else "")]
        unread = sorted(self.numbers_used - set(self.checkpoints))
        if unread:
            out.append(f"checkpoint numbers used before (discs not read): up to {unread[-1]}; a new checkpoint"
                       " is numbered after it; discs burnt in another drive are read with rabtui rebuild-state"
                       " --drive DRIVE")
        out += self.notes
        out += [f"warning: {w}" for w in self.lacking]
        out += [f"renumbered: {r}" for r in self.renumbered]
        out += [f"not matched: {u}" for u in self.unmatched]
        return out
