"""What a restore wrote, and what it did not with the reason: counted by kind, named one per line,
and as JSON."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from rabtui import fmt

KINDS = ("files", "directories", "links", "symlinks", "special", "attributes")


def kind_of(mode: int) -> str:
    """The kind a restore's record names an entry by (`not_restored`), from its mode."""
    for test, kind in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "directory"), (stat.S_ISLNK, "symlink"),
                       (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return kind
    return "device"


def bits_left_off(mode: int) -> str:
    """"; its setuid bit left off" and the like, for an entry of `mode` other than a directory (whose
    setgid grants nothing) left without those bits."""
    if stat.S_ISDIR(mode):
        return ""
    bits = [n for bit, n in ((stat.S_ISUID, "setuid"), (stat.S_ISGID, "setgid")) if mode & bit]
    return f"; its {' and '.join(bits)} bit{'s' if len(bits) > 1 else ''} left off" if bits else ""


def kept_directory(kind: str, why: str = "holding files", looked: bool = False) -> str:
    """Why an entry of `kind` was not restored over a directory `why` (one holding files may hold
    what the backup has not), which --overwrite keeps on every target alike. `looked`: seen so by a
    look before rsync ran (onto an SSH source), which leaves it out whatever it is by then."""
    there = "was there when the restore looked (before rsync ran)" if looked else "is there"
    return (f"a directory {why} {there} where the backup has a {kind}; kept (a restore removes only an"
            f" empty one that is no mount point): move it away, then restore again")


def os_reason(exc: OSError) -> str:
    """What an OSError says went wrong, as the record words it."""
    return os.strerror(exc.errno) if exc.errno else str(exc)


@dataclass
class Written:
    files: int = 0
    dirs: int = 0
    links: int = 0          # hard links to a file restored before
    symlinks: int = 0
    special: int = 0        # FIFOs, device nodes, sockets
    attributes: int | None = 0  # extended attributes set (ACLs and capabilities included); None:
                                # set by rsync on an SSH source, which does not say how many
    bytes: int = 0
    skipped: list[bytes] = field(default_factory=list)                 # existed, no --overwrite
    refused: list[tuple[bytes, str]] = field(default_factory=list)     # symlinks in the way
    not_restored: list[tuple[str, bytes, str]] = field(default_factory=list)  # (kind, name, why)
    errors: list[tuple[bytes, str]] = field(default_factory=list)      # the restore could not finish
    privileged: int = 0     # files restored that run with more than their caller's rights (setuid, setgid, a capability)
    first_privileged: bytes = b""
    privileged_names: list[bytes] = field(default_factory=list)     # each, below the directory written in

    def note_privileged(self, name: bytes) -> None:
        self.privileged += 1
        self.first_privileged = self.first_privileged or name
        self.privileged_names.append(name)

    def counts(self) -> str:
        attributes = ("attributes as rsync set them (uncounted)" if self.attributes is None
                      else fmt.count(self.attributes, "attribute"))
        return (f"{fmt.count(self.files, 'file')}, {fmt.count(self.dirs, 'directory')},"
                f" {fmt.count(self.links, 'hard link')}, {fmt.count(self.symlinks, 'symlink')},"
                f" {fmt.count(self.special, 'special file')}, {attributes}, {fmt.count(self.bytes, 'byte')}")

    def problems(self) -> list[str]:
        """One line per thing not restored, names escaped, and so is each reason: one may hold what
        a source's rsync printed (a hostile host's terminal control sequences)."""
        out = [f"error: {fmt.name(n)}: {fmt.name(why)}" for n, why in self.errors]
        out += [f"refused: {fmt.name(n)}: {fmt.name(why)}" for n, why in self.refused]
        out += [f"not restored ({kind}): {fmt.name(n)}: {fmt.name(why)}" for kind, n, why in self.not_restored]
        out += [f"exists, kept: {fmt.name(n)}" for n in self.skipped]
        return out

    def named_from(self, prefix: bytes) -> "Written":
        """The names, which are below `prefix`, named from / as every restore names them (without its
        first slash): a writer's below the directory it wrote in."""
        at = lambda n: os.path.join(prefix, n) if n else prefix  # noqa: E731
        self.skipped = [at(n) for n in self.skipped]
        self.refused = [(at(n), why) for n, why in self.refused]
        self.not_restored = [(kind, at(n), why) for kind, n, why in self.not_restored]
        self.errors = [(at(n), why) for n, why in self.errors]
        return self

    def as_json(self) -> dict:
        name = lambda b: os.fsdecode(b)  # noqa: E731  (JSON keeps exact names, surrogate-escaped)
        return {"restored": {"files": self.files, "directories": self.dirs, "hard_links": self.links,
                             "symlinks": self.symlinks, "special_files": self.special,
                             "attributes": self.attributes, "bytes": self.bytes},
                "not_restored": [{"kind": k, "path": name(n), "why": w} for k, n, w in self.not_restored],
                "refused": [{"path": name(n), "why": w} for n, w in self.refused],
                "existing_kept": [name(n) for n in self.skipped],
                "errors": [{"path": name(n), "why": w} for n, w in self.errors]}

