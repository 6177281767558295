"""What goes on one disc (DESIGN.md "On a disc"): README.txt, rabtui/ (config, database copy,
catalog of the whole checkpoint), data/<source-id>/<original path>/..., add/N/...

The catalog is text, one file per line: disc, path on the disc, size, mtime, sha256, separated by
tabs. In paths a backslash is written `\\\\`, a tab `\\t`, a newline `\\n`, a carriage return
`\\r`, and each byte of another character a person must not be shown as it is (fmt.escaped: C0,
DEL, C1, format characters such as U+202E, U+2028, ...; a terminal would obey them or show the
name as another) or that is not part of valid UTF-8 `\\xHH`; nothing else is changed. Discs
written before escaped only C0, DEL, C1 and bytes not UTF-8 (shown_before); the same reading
(unescape_path) gives the names of both back. README.txt writes the paths it names the same way. On a
disc it is gzip-compressed, `rabtui/catalog.tsv.gz` (read with zcat, zgrep), in less than half
the room on every disc. Discs written before hold it plain, `rabtui/catalog.tsv`; readers
take either (CATALOG_NAMES).
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from rabtui import fmt, privacy
from rabtui.checkpoint.content import DIR_MARK
from rabtui.checkpoint.xorriso import Entry
from rabtui.checkpoint.own_dirs import OwnDirs
from rabtui.media import below

CATALOG_HEADER = "disc\tpath\tsize\tmtime\tsha256\n"
CATALOG_ON_DISC = "catalog.tsv.gz"
CATALOG_NAMES = (b"rabtui/catalog.tsv.gz", b"rabtui/catalog.tsv")   # on a disc: this one, older ones


def volid(number: int, disc: int) -> str:
    return f"RAB{number}D{disc:02d}"


_C_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _hex(ch: str) -> str:
    return _C_ESCAPES.get(ch) or "".join("\\x%02x" % b for b in fmt.raw_bytes(ch))


def escape_path(path: bytes, shown: Callable[[str], bool] | None = None) -> str:
    """A path for the catalog and the README: see the module's docstring (`shown`: the rule of
    discs written before, shown_before)."""
    return fmt.escaped(path.decode("utf-8", "surrogateescape").replace("\\", "\\\\"), _hex, shown)


def shown_before(ch: str) -> bool:
    """What discs written before format characters were escaped left as it is in their README.txt
    and catalog: all but C0, DEL, C1 and bytes that are not UTF-8 (U+202E, U+2028 were left)."""
    return not (ch < " " or "\x7f" <= ch <= "\x9f" or "\udc80" <= ch <= "\udcff")


def unescape_path(text: str) -> bytes:
    out = bytearray()
    raw = text.encode("utf-8")
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x5C and i + 1 < len(raw):
            n = raw[i + 1]
            if n == 0x5C:
                out.append(0x5C); i += 2; continue
            if n in b"tnr":
                out.append({0x74: 9, 0x6E: 10, 0x72: 13}[n]); i += 2; continue
            if n == 0x78 and i + 3 < len(raw) + 1:
                out.append(int(raw[i + 2:i + 4], 16)); i += 4; continue
        out.append(c)
        i += 1
    return bytes(out)


@dataclass(slots=True)
class Row:
    """One file of the checkpoint (a `disc_files` row), with where to read it on the medium."""

    disc: int
    source: str
    path: bytes | None     # original path, relative to / (None: not loaded, read_from.load_rows)
    disc_path: bytes       # path on the disc
    size: int
    mtime: int
    sha256: str | None
    part: int | None = None
    parts: int | None = None
    offset: int = 0        # for parts: where this part starts in the original file
    disk: bytes = b""      # where it is read from on the medium (b"": not yet known, read_from.with_disk)
    mode: int | None = None    # st_mode as backed up (None: not known, a checkpoint recorded before)
    link: bytes | None = None  # a symlink's target as backed up
    link_group: int | None = None   # files hard-linked to each other as backed up share it
    owner: tuple[int, int] | None = None   # (uid, gid) as backed up
    rdev: int | None = None    # a device node's numbers as backed up (None: not known, a plan recorded before)
    xattr_sum: bytes | None = None   # the sum of its xattrs as backed up (xattr_sum.py; None: not known)
    trusted_sum: bytes | None = None   # of its trusted.* xattrs (xattr_sum.trusted_of; None: not known)


def catalog_lines(rows: Iterable[Row]) -> Iterable[str]:
    yield CATALOG_HEADER
    for r in rows:
        yield f"{r.disc}\t{escape_path(r.disc_path)}\t{r.size}\t{r.mtime}\t{r.sha256 or '-'}\n"


def write_catalog(path: Path, rows: Iterable[Row]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(catalog_lines(rows))
    os.replace(tmp, path)


def gzip_catalog(plain: Path, target: Path) -> None:
    """The catalog compressed for the discs, as prepare.record makes it (no name or time in the
    gzip header: the same bytes each time)."""
    tmp = target.with_name(target.name + ".tmp")
    with open(plain, "rb") as src, open(tmp, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as gz:
        shutil.copyfileobj(src, gz, 1 << 20)
    os.replace(tmp, target)


GZIP_MAGIC = b"\x1f\x8b"


def catalog_text(data: bytes) -> bytes:
    """The catalog's text from the bytes of a disc's catalog file, compressed or not."""
    return gzip.decompress(data) if data[:2] == GZIP_MAGIC else data


def parse_catalog(text: str) -> list[tuple[int, bytes, int, int, str]]:
    out = []
    for line in text.splitlines()[1:]:
        disc, path, size, mtime, sha = line.split("\t")
        out.append((int(disc), unescape_path(path), int(size), int(mtime), sha))
    return out


MADE_BY = "  media: "     # README.txt's line of the labels of the media of the server that made the disc


def made_by_line(media: dict[str, dict] | None) -> str:
    return MADE_BY + json.dumps(media or {}, sort_keys=True)


def readme_text(*, number: int, created: float, disc: int, discs: int, disc_type: str,
                dirs: Sequence[dict], on_disc: dict[str, list[int]], filler: Sequence[dict],
                media: dict[str, dict] | None = None, joined: Sequence[dict] | None = None) -> str:
    """README.txt of one disc. `dirs`: the checkpoint's directories (plan JSON); `on_disc`:
    prefix -> the discs it is on; `filler`: the add/N directories of this disc; `media`: medium id
    -> the labelling (id, serial, time) of the disk this server used as it, which tells its discs
    from another server's (rebuild-state) without the media or the copy of the state. `joined`: the
    files cut into parts of the checkpoint (placement.checksummed_rows), each file's sha256 given on the
    discs of its parts; None for a checkpoint planned before the plan recorded them."""
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(created))
    vid = volid(number, disc)
    lines = [
        f"rabtui checkpoint {number}, made {when}",
        f"Disc {disc} of {discs}, volume id {vid}, disc type {disc_type}",
        "",
        "This disc is one of the discs of a checkpoint: a full copy of the directories below,",
        "taken from the newest complete backup of each. It can be read without rabtui.",
        "",
        "The checkpoint (data/, all discs):",
    ]
    for d in dirs:
        if d["role"] != "data":
            continue
        where = on_disc.get(d["prefix"], [])
        mark = "  <- on this disc" if disc in where else ""
        span = ", ".join(str(k) for k in where) or "-"
        lines.append(f"  {_shown(d['prefix'])}  =  {d['source']}:{_shown(d['path'])}  ({d['kind']}, backup"
                     f" {d['backup_id']}, discs {span}){mark}")
        lines += unread_lines(d)
    lines += ["", "Filler on this disc (add/N = source:path, whole directories, not part of the checkpoint):"]
    if filler:
        for d in filler:
            lines.append(f"  {_shown(d['prefix'])}  =  {d['source']}:{_shown(d['path'])}  ({d['kind']}, backup"
                         f" {d['backup_id']})")
            lines += unread_lines(d)
    else:
        lines.append("  (none)")
    lines += ["", "Made by the server whose media were labelled so (medium id: labelling):",
              made_by_line(media)]
    lines += [
        "",
        "Also on this disc:",
        "  README.txt          this file",
        "  rabtui/catalog.tsv.gz  every file of the whole checkpoint, on every disc, gzip-compressed",
        "                      (read it with zcat or zgrep; gunzip -c makes a plain copy):",
        "                      disc <TAB> path on the disc <TAB> size <TAB> mtime (seconds since 1970 UTC)",
        "                      <TAB> sha256.  In paths (here too): backslash is \\\\, tab \\t,",
        "                      newline \\n, carriage return \\r, each byte of another control or",
        "                      invisible character (U+202E, U+200B, U+2028, ...) or of what is not",
        "                      UTF-8 \\xHH.  sha256 'dir' marks an empty directory, 'symlink' a",
        "                      symbolic link, 'special' a FIFO or a device node (sockets are left out).",
        "  rabtui/             the rabtui configuration and a copy of its state database at this time",
        "",
        "Restoring with plain tools:",
        "  mount -o ro /dev/sr0 /mnt          (or copy everything out without mounting:",
        "                                      xorriso -osirrox on -indev /dev/sr0 -extract / /restore)",
        "  cp -a /mnt/data/SOURCE/PATH /restore/",
        "  The folders data/, add/ and rabtui/ let in only the user who made the disc (root, often):",
        "  copy as that user (xorriso reads the disc whatever its modes).",
        "  The disc also holds ACLs, extended attributes (file capabilities included) and hard links",
        "  (as AAIP and Rock Ridge).  A mount on Linux shows contents, owners, modes, symlinks and",
        "  special files, but the kernel does not read ACLs and xattrs from a disc.  To get",
        "  everything back, as root:",
        "      xorriso -osirrox on:device_files -acl on -xattr any -hardlinks on \\",
        "          -indev /dev/sr0 -extract /data/SOURCE/PATH /restore/PATH",
        "  (or osirrox with the same options; without device_files, device nodes are left out).",
        "  osirrox makes symlinks owned by the restoring user, with the time of extraction; their",
        "  owners are on the disc (xorriso -indev /dev/sr0 -find /data -type l -exec lsdl --),",
        "  their times in the catalog (lsdl shows them to the minute).",
        "  Sparse files take their full size on the disc; `cp --sparse=always` makes them sparse again.",
        "  Extended attributes with an empty value are not on the disc (xorriso cannot write one",
        "  beside others): rabtui/rabtui.db lists them (table disc_xattrs_off), and a restore with",
        "  rabtui sets them again.",
        "  Find a file:  zgrep 'etc/fstab' /mnt/rabtui/catalog.tsv.gz   (the first column is the disc)",
        "  Check a file: sha256sum FILE, compare with the catalog.",
        "  A file larger than a disc is cut into parts on consecutive discs, named",
        "  NAME.part01-of-03, NAME.part02-of-03, ...  Copy all parts into one directory, then",
        "  (MM: their number, 03 here; a file named NAME.partial beside them is no part):",
        "      cat NAME.part[0-9][0-9]-of-MM > NAME",
        *(["  Each part has its own sha256 in the catalog."] if joined is None else [
            "  Each part has its own sha256 in the catalog; the joined file's is on each disc holding a",
            "  part of it, below, in a line sha256sum -c reads.  Where the join was written:",
            "      sha256sum -c --ignore-missing /mnt/README.txt",
            "  (it warns of this file's other lines; a name shown with a \\ escape: sha256sum NAME, compare).",
            "  Files joined from parts on this disc:",
            *joined_lines(joined, disc)]),
        "  Hard links whose names are on two discs, and the names of a file cut into parts (each",
        "  joined on its own), come back from plain tools as files of their own, alike; a restore",
        "  with rabtui links them again.  The catalog does not tell them; the copy of the state does",
        "  (as root; link_group: one number per file):",
        "      sqlite3 /mnt/rabtui/rabtui.db \"SELECT link_group, disc, CAST(disc_path AS TEXT)",
        f"        FROM disc_files WHERE number={number} AND link_group IN (SELECT link_group FROM disc_files",
        f"        WHERE number={number} GROUP BY link_group HAVING COUNT(DISTINCT disc) > 1 OR MAX(parts) > 1)",
        "        ORDER BY 1, 3\"",
        "  Verify this disc: xorriso -md5 on -indev /dev/sr0 -check_md5_r SORRY / --",
        "",
    ]
    return "\n".join(lines)


JOINED_ROOM = 2 * (8 + 64 + 4 * 255 + 1)   # bytes: two files cut (a disc ends one, begins another), names escaped


def joined_lines(joined: Sequence[dict], disc: int) -> list[str]:
    """README.txt's lines of the files cut into parts with a part on disc `disc`: each a line
    `sha256sum -c` reads, the sha256 of the whole file and its name (as the catalog writes it), as
    the join in the folder of its parts names it. A disc holds parts of two such files at most (the
    end of one, the beginning of another); past JOINED_ROOM bytes, the rest are counted."""
    lines, room = [], JOINED_ROOM
    here = [j for j in joined if disc in j.get("discs", ())]
    for j in here:
        line = f"      {j['sha256']}  {j['path'].rpartition('/')[2]}"
        room -= len(line.encode()) + 1
        if room < 0:
            break
        lines.append(line)
    if len(lines) < len(here):
        lines.append(f"      ... and {len(here) - len(lines)} more (their parts are in the catalog)")
    return lines or ["      (none)"]


UNREAD_ROOM = 2048      # bytes of names README.txt lists per directory its backup could not read all of


def unread_lines(d: dict) -> list[str]:
    """The lines README.txt gives below a directory of the plan `d` for what its backup could not
    read (none when it read everything), and apart, for the files of them it read and could not
    write on the medium (`unmade`): the names escaped as the catalog's, UNREAD_ROOM bytes of them
    at most, the rest counted."""
    names = [n for n in d.get("unreadable") or [] if isinstance(n, str)]
    unnamed = d.get("unreadable_unnamed") or 0
    names, unmade = split_unmade(names, [n for n in d.get("unmade") or [] if isinstance(n, str)])
    where = ("on these discs only as an earlier backup saved them (if one did" if d.get("kind") == "archive"
             else "not on these discs (older backups on the media may hold them")
    lines, room = [], UNREAD_ROOM
    if names or unnamed:
        lines += [f"      {len(names) + unnamed} paths its backup could not read on the source, {where};",
                  "      NAME a file, NAME/. what a directory holds, NAME/ an entry and what is below it, . all):"]
        room = _names_lines(lines, names, unnamed, room)
    if unmade:
        lines.append(f"      {len(unmade)} {'file' if len(unmade) == 1 else 'files'} its backup read on the source and"
                     f" could not write on the medium (its file system refused the name?), {where}):")
        _names_lines(lines, unmade, 0, room)
    return lines


def split_unmade(names: list[str], unmade: list[str]) -> tuple[list[str], list[str]]:
    """`names` (the paths a backup did not save) as those not read on the source and those (of
    `unmade`) the medium could not hold, each in the order of `names`."""
    held = set(unmade)
    return [n for n in names if n not in held], [n for n in names if n in held]


def _names_lines(lines: list[str], names: list[str], unnamed: int, room: int) -> int:
    """`names` added to `lines`, escaped, as many as `room` bytes hold, the rest (and `unnamed`)
    counted; the room left."""
    shown = 0
    for name in names:
        text = escape_path(os.fsencode(name))
        size = len(text.encode()) + 9
        if size > room:
            break
        room -= size
        lines.append(f"        {text}")
        shown += 1
    if shown < len(names) + unnamed:
        lines.append(f"        ... and {len(names) + unnamed - shown} more (rabtui/rabtui.db, table unreadable, names them"
                     f" as far as the backup could)")
    return room


def _shown(path: str) -> str:
    """A configured path (or its prefix on the disc) as README.txt writes it: as the catalog does."""
    return escape_path(os.fsencode(path))


def disc_entries(rows: Sequence[Row], prefixes: dict[bytes, bytes], staging: Path,
                 own: dict[bytes, OwnDirs] | None = None) -> list[Entry]:
    """The xorriso entries of one disc: README, rabtui/, then each directory and file in path
    order, directories first so that their own attributes (mode, times) are kept.
    `prefixes`: disc prefix (b"data/web1/etc") -> root of that directory on the medium; `own`:
    disc prefix -> where an archive directory's directories its union holds are read (own_dirs.py),
    else below its root."""
    out = [Entry("file", os.fsencode(staging / "README.txt"), b"/README.txt"),
           Entry("tree", os.fsencode(staging / "rabtui"), b"/rabtui")]
    seen: set[bytes] = set()

    def ensure_dir(iso_dir: bytes, near: bytes | None = None, row: Row | None = None) -> None:
        """`near`: where the directory is beside the file being placed (read_from.py may read
        that elsewhere): taken when its directory's root lacks it (kept data's, kept_data.py).
        `row`: the catalog's, of an empty directory."""
        if iso_dir in seen:
            return
        for prefix, root in prefixes.items():
            if iso_dir == prefix or iso_dir.startswith(prefix + b"/"):
                parent = iso_dir.rpartition(b"/")[0]
                if iso_dir != prefix:
                    ensure_dir(parent, near.rpartition(b"/")[0] if near else None)
                rel = iso_dir[len(prefix) + 1:]
                disk = os.path.join(root, rel) if rel else root
                if own and prefix in own and (found := own[prefix].of(rel)) is not None:
                    disk = os.path.join(found[0], found[1])     # on every disc (kept_data._dirs_beside)
                elif near and rel and below.reach(root, rel) != below.DIR:
                    disk = near     # the root lacks it, or holds an older file or symlink there
                out.append(Entry("dir", disk, b"/" + iso_dir, row=row))
                seen.add(iso_dir)
                return
        seen.add(iso_dir)   # above a directory's root (data/, data/web1/): made by xorriso

    for r in rows:
        if r.sha256 == DIR_MARK:
            ensure_dir(r.disc_path, r.disk or None, r)
            continue
        ensure_dir(r.disc_path.rpartition(b"/")[0], r.disk.rpartition(b"/")[0] if r.disk else None)
        if r.part:
            out.append(Entry("cut", r.disk, b"/" + r.disc_path, offset=r.offset, length=r.size, row=r))
        else:
            out.append(Entry("file", r.disk, b"/" + r.disc_path, row=r))
    return out


# README.txt's words for a disc whose copy of the state leaves out the backups' catalog
CATALOG_LEFT_OUT = (
    "\n"
    "rabtui/rabtui.db on this disc leaves out the catalog of the backups (its tables paths,\n"
    "versions, others and changes are empty): the state database had grown beyond the room kept\n"
    "for it when the checkpoint was planned.  What the checkpoint records is all there;\n"
    "rabtui rebuild-state reads the backups' catalog from the media.\n")


def stage_disc(staging: Path, readme: str, config_path: Path | None, catalog_gz: Path, store,
               backups_catalog: bool = True) -> None:
    """README.txt and rabtui/ of one disc, in `staging` (made fresh); without `backups_catalog`, the
    copy of the state database leaves it out and README.txt says so. Its file system full: an
    OSError naming `staging` (a copy's error names the file copied, SQLite's no file at all)."""
    try:
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True, exist_ok=True)
        (staging / "rabtui").mkdir(mode=privacy.DIR_MODE)     # the state database: closed on a mounted disc
        (staging / "README.txt").write_text(readme + ("" if backups_catalog else CATALOG_LEFT_OUT), encoding="utf-8")
        if config_path is not None and Path(config_path).is_file():
            shutil.copy2(config_path, staging / "rabtui" / Path(config_path).name)
        shutil.copy2(catalog_gz, staging / "rabtui" / CATALOG_ON_DISC)
        store.backup_to(staging / "rabtui" / "rabtui.db", catalog=backups_catalog)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OSError(exc.errno, exc.strerror, str(staging)) from None
        raise
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(staging)) from None
        raise
