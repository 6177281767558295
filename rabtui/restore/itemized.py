"""rsync's itemized lines (`--out-format=%i|%l|%n`, -ii) as a restore onto an SSH source reads them:
what it wrote, by kind and by name, and what a dry run shows on the source."""

from __future__ import annotations

from rabtui import rsync
from rabtui.restore.written import Written


def items(lines: list[bytes]) -> list[bytes]:
    """The `%i|%l|%n` lines of `lines`: not the others rsync prints on its output, as `created
    directory PATH` where the destination is not there (bars in PATH made it look like one)."""
    return [line for line in lines if len(line.split(b"|", 1)[0]) == 11 and line.count(b"|") >= 2]


def count_itemized(lines: list[bytes], w: Written) -> None:
    """Counts by kind from rsync's `%i|%l|%n` lines (created or updated entries only)."""
    for line in items(lines):
        item, _, rest = line.partition(b"|")
        if len(item) < 2 or item[:1] not in b"<>ch" or b"|" not in rest:
            continue
        size = rest.split(b"|", 1)[0]
        kind = item[1:2]
        if item[:1] == b"h":
            w.links += 1
        elif kind == b"f":
            w.files += 1
            w.bytes += int(size) if size.isdigit() else 0
        elif kind == b"d":
            w.dirs += 1
        elif kind == b"L":
            w.symlinks += 1
        elif kind in b"DS":
            w.special += 1


def whole_only(lines: list[bytes]) -> list[bytes]:
    """`lines` of a transfer stopped before its end (stalled, timed out), but the last that itemizes
    a file sent: rsync names each file as it begins to send it (its format counts no bytes), so the
    one it was sending may not have reached the source whole."""
    for at in range(len(lines) - 1, -1, -1):
        if lines[at][:2] == b"<f":
            return lines[:at] + lines[at + 1:]
    return lines


def names_sent(lines: list[bytes]) -> set[bytes]:
    """The names rsync's `%i|%l|%n` lines itemize."""
    return {rsync.unescape(line.split(b"|", 2)[2]).removesuffix(b"/") for line in items(lines)}


def existing_dirs(lines: list[bytes]) -> set[bytes]:
    """The directories a dry run's `%i|%l|%n` lines show on the source already, by their names
    below the destination (b"" for the destination itself)."""
    out = set()
    for line in items(lines):
        parts = line.split(b"|", 2)
        if len(parts) == 3 and parts[0][:2] == b".d":
            name = rsync.unescape(parts[2]).removesuffix(b"/")
            out.add(b"" if name == b"." else name)
    return out


# rsync's itemized letters (YXcstpoguax) that name a file's attributes, by position
ATTRIBUTE_LETTERS = {5: "mode", 6: "owner", 7: "group", 9: "ACL", 10: "xattrs"}


def attributes_changed(line: bytes) -> str:
    """What of an existing entry's attributes (mode, owner, group, ACL, xattrs) a `%i|...` line says
    the restore would change, "" for none: a file with the backup's content but not its setuid bit
    or its ACL is not the backup's file either."""
    item = line.split(b"|", 1)[0]
    return ", ".join(what for at, what in ATTRIBUTE_LETTERS.items() if at < len(item) and item[at:at + 1] not in b". +")


def not_as_saved(lines: list[bytes], own_name: bytes | None = None) -> list[tuple[bytes, bytes]]:
    """(rsync's letter of its kind, name below the destination; b"" for the item itself) of each
    entry a dry run's `%i|%l|%n` lines would send, make or change: not as the backup has it.
    `own_name`: a file sent alone, named so by rsync."""
    out = []
    for line in items(lines):
        parts = line.split(b"|", 2)
        item = parts[0]
        if len(parts) < 3 or len(item) < 2 or not (item[:1] in b"<>ch" or item[:1] == b"." and item[2:].strip(b". ")):
            continue
        name = rsync.unescape(parts[2]).removesuffix(b"/")
        out.append((item[1:2], b"" if name in (b".", own_name) else name))
    return out
