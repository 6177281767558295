"""Step 7, sizes: totals per directory and per backup, taken from rsync's itemized stream and
`--stats` only (no walk of the tree, no du).

- total_bytes: what a copy of the backup directory would take (regular files in it; an archive
  directory's backup holds only its new files); a file with holes at what the medium holds of it
  (holes.py).
- new_bytes: what this backup added on the medium (files whose data was written: `>f`, `cf`).
- new_files / changed_files: new paths / paths with another size, mtime or attributes. Their sum
  is the checkpoint trigger's "new or modified files".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from rabtui.rsync import ABSENT, CHANGED, LINKED, NEW, SAME


@dataclass
class DirSizes:
    path: str
    kind: str
    files: int = 0              # regular files in this backup's copy of the directory
    total_bytes: int = 0
    new_bytes: int = 0
    new_files: int = 0
    changed_files: int = 0
    unchanged_files: int = 0
    source_files: int = 0       # regular files rsync saw on the source (archive: more than `files`)
    source_bytes: int = 0
    rsync_exit: int | None = None
    # rsync's exit 23 said no more than that files it read with an error were read whole on its
    # second try (each on the medium): it left nothing out, whatever else the directory warns of
    whole_on_retry: bool = False
    # the config's excludes of the directory in this backup (the source's, then its own): sizes
    # recorded with other excludes do not forecast a backup with these (history.expected_bytes)
    excludes: list | None = None
    state: str | None = None    # ok | warning | failed
    message: str | None = None
    stats: dict = field(default_factory=dict)
    # files with holes, as held on the medium: path below the directory -> bytes of holes, not
    # counted in total_bytes nor (when this backup wrote them) in new_bytes (holes.py)
    holes: dict = field(default_factory=dict)
    # paths rsync could not read on the source (below the directory; "." the directory itself), not
    # in this backup though not deleted there, and how many more there were (unreadable.py)
    unreadable: list = field(default_factory=list)
    unreadable_unnamed: int = 0
    # of those named, the files rsync read on the source that its receiver could not create on the
    # medium (not_created.py): a name the medium's file system refuses, not a source unread
    unmade: list = field(default_factory=list)
    # names of a file, symlink or special file the directory's copy holds under another name already: its hard links
    # (as the source has them: links_apart.py); None where not known (a failed transfer, or one
    # whose source could not list them): the next backup from it looks at its copy for them
    hard_links: int | None = 0
    # hard_links counts symlinks and special files too: a record without this counted regular files
    # only, and its 0 does not say that the copy holds no link
    hard_links_all: bool = True

    def warn(self, text: str) -> None:
        """`text` added to the directory's message, which warns."""
        self.message = f"{self.message}; {text}" if self.message else text
        self.state = "warning"

    def add_files(self, state: int, count: int, size: int) -> None:
        """`count` regular files of one state (rsync.file_state), of `size` bytes in all."""
        self.source_files += count
        self.source_bytes += size
        if state == ABSENT:
            return
        self.files += count
        self.total_bytes += size
        if state == SAME or state == LINKED:
            self.unchanged_files += count
            if state == LINKED and self.hard_links is not None:
                self.hard_links += count
        elif state == NEW:
            self.new_files += count
            self.new_bytes += size
        elif state == CHANGED:
            self.changed_files += count
            self.new_bytes += size

    def not_written(self, state: int, size: int) -> None:
        """A file counted as written (NEW or CHANGED, of `size` bytes) that the backup does not hold:
        rsync names a file as its data begins to come, and one under way when it failed is gone."""
        self.files -= 1
        self.total_bytes -= size
        self.new_bytes -= size
        if state == NEW:
            self.new_files -= 1
        else:
            self.changed_files -= 1

    @property
    def modified(self) -> int:
        """New or modified files: the checkpoint trigger's input."""
        return self.new_files + self.changed_files

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Totals:
    total_bytes: int = 0
    new_bytes: int = 0
    files: int = 0
    new_files: int = 0          # new or modified
    seconds: float = 0.0

    @classmethod
    def of(cls, dirs: list[DirSizes]) -> "Totals":
        t = cls()
        for d in dirs:
            t.total_bytes += d.total_bytes
            t.new_bytes += d.new_bytes
            t.files += d.files
            t.new_files += d.modified
        return t

    def as_dict(self) -> dict:
        return asdict(self)
