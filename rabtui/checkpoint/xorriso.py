"""xorriso command lines and command files (pure), and parsers of what xorriso prints.

Names reach xorriso through a command file read with `-options_from_file` while
`-backslash_codes on` is in effect: every word is put in double quotes and every byte that is not
plain printable ASCII (and the quote marks and the backslash) is written as `\\xHH`, which
xorriso translates back (xorriso(1), "-backslash_codes": `\\x[0-9a-f][0-9a-f]=hex_code`). So a
name may hold any byte but NUL. Program arguments are translated too
("with_program_arguments"): their backslashes are doubled.

xorriso 1.5 reads at most 4095 bytes of a command-file line, continued lines included (a longer
one ends in "Open quotation mark at end of input"), and composes no path longer than 4095 bytes,
on disk or in the image ("Effective path gets much too long"). An escaped name of 255 bytes takes
up to 1022, so each file is added by its own name after `-cdx` (disk) and `-cd` (image) into its
directory, which is given in steps of whole names that fit on a line. Disk paths must already be
short enough (shortpath.py); image paths are checked when a checkpoint is planned.

`-cut_out` gives a part of a file the file's mode (setuid, setgid and sticky bits included),
owner, group and times, as it reads them with stat, but none of its ACL and xattrs (a cut-out node
of libisofs carries no AAIP; xorriso 1.5.4). They are given to the part right after it, from files
xorriso reads, as `getfattr -d` and `getfacl` write them (attr_lists): `-setfattr_list` for every
xattr (its values may hold any byte, 0 too, which `-setfattr` cannot set), then `-setfacl_list`
for the ACL (after: `-setfattr_list` removes an ACL set before it). So a part holds what the whole
file would, its ACL and its system.posix_acl_access xattr beside it. `-setfacl_list` takes its
names as patterns unless `-iso_rr_pattern off`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Iterable, Sequence

# The last six words are what `-for_backup` stands for (it turns -md5 on too): ACLs and xattrs of
# every namespace readable (AAIP), hard links as hard links. Special files go in through Rock Ridge.
ISO_SETTINGS = ["-rockridge", "on", "-joliet", "on", "-md5", "on",
                "-compliance", "iso_9660_level=3:no_emul_toc",
                "-hardlinks", "on", "-acl", "on", "-xattr", "any"]

_PLAIN = frozenset(b for b in range(0x20, 0x7F) if b not in b"\"'\\")


def quote(word: bytes | str) -> str:
    """One word of a command file: double-quoted, unusual bytes as \\xHH."""
    if isinstance(word, str):
        word = word.encode("utf-8", "surrogateescape")
    return '"' + "".join(chr(b) if b in _PLAIN else "\\x%02x" % b for b in word) + '"'


def arg(word: bytes | str) -> str:
    """A program argument while backslash codes are on: backslashes doubled."""
    if isinstance(word, bytes):
        word = word.decode("utf-8", "surrogateescape")
    return word.replace("\\", "\\\\")


@dataclass
class Entry:
    """One thing to put into the image."""

    kind: str            # "dir" (the directory itself) | "file" | "tree" (a whole directory) | "cut"
    disk: bytes          # path on disk
    iso: bytes           # path in the image, absolute
    offset: int = 0      # for "cut"
    length: int = 0
    # for "cut": the xattrs of the file (its ACL's among them) and its ACL as `getfacl` writes it
    # (when it says more than the mode), which -cut_out leaves off the part, and where the lists
    # that give them to it are written (attr_lists)
    attrs: list[tuple[bytes, bytes]] = field(default_factory=list)
    acl: str = ""
    lists: bytes = b""


PATH_MAX = 4095          # the longest path xorriso composes, on disk or in the image
_STEP = 1100             # quoted bytes per -cd/-cdx step: one name of 255 bytes always fits


def _cd_steps(where: bytes | None, target: bytes) -> list[tuple[bytes, bytes]]:
    """How to go from `where` (None: unknown) to `target`: (argument, directory reached) pairs."""
    if where == target:
        return []
    if where not in (None, b"/") and target.startswith(where + b"/"):
        here, names = where, target[len(where) + 1:].split(b"/")
    else:
        here, names = b"", target.strip(b"/").split(b"/")
    steps: list[tuple[bytes, bytes]] = []
    step = b"" if here else b"/"
    for name in filter(None, names):
        if step not in (b"", b"/") and len(quote(step + b"/" + name)) > _STEP:
            here = here + b"/" + step if here else step
            steps.append((step, here))
            step = b""
        step = step + (b"/" if step not in (b"", b"/") else b"") + name
    steps.append((step or b"/", target))
    return steps


XATTR_LIST, ACL_LIST = b".xattrs", b".acl"    # appended to an Entry's `lists`
LIST_LINE = 4 * 4096 - 2   # the longest line -setfattr_list and -setfacl_list read whole (fgets, 16 KiB)
_LIST_PLAIN = frozenset(range(0x21, 0x7F)) - frozenset(b'"\\=')


def _octal(word: bytes) -> bytes:
    """A name or value in a -setfattr_list or -setfacl_list file: unusual bytes as \\ooo."""
    return b"".join(bytes([b]) if b in _LIST_PLAIN else b"\\%03o" % b for b in word)


def attr_lists(entries: Iterable[Entry]) -> list[tuple[bytes, bytes]]:
    """(path, text) of each file that the command file of `entries` reads the ACL and xattrs of a
    cut part from; the part is named as it is in its directory of the image, where the command
    file is when it reads them. ValueError for an xattr too long for a line of its own."""
    out = []
    for e in entries:
        if e.kind != "cut" or not (e.attrs or e.acl):
            continue
        head = b"# file: " + _octal(e.iso.rstrip(b"/").rpartition(b"/")[2]) + b"\n"
        if e.attrs:
            lines = [_octal(n) + b'="' + _octal(v) + b'"' for n, v in e.attrs]
            for (n, _v), line in zip(e.attrs, lines):
                if len(line) > LIST_LINE:
                    raise ValueError(f"xattr {n!r} takes {len(line)} bytes as xorriso reads it, more than {LIST_LINE}")
            out.append((e.lists + XATTR_LIST, head + b"".join(line + b"\n" for line in lines)))
        if e.acl:
            out.append((e.lists + ACL_LIST, head + e.acl.encode("utf-8", "surrogateescape") + b"\n"))
    return out


def command_file(volid: str, entries: Iterable[Entry]) -> str:
    """The text of the command file for one disc (with the files of attr_lists beside it)."""
    lines = [f"-volid {quote(volid)}"]
    disk_dir = iso_dir = None
    patterns = True
    made = {b"/"}        # directories in the image so far: -cd into another one makes it first
    for e in entries:
        if e.kind not in ("dir", "file", "tree", "cut"):
            raise ValueError(f"unknown entry kind {e.kind!r}")
        disk_parent, disk_name = e.disk.rstrip(b"/").rpartition(b"/")[::2]
        iso_parent, iso_name = e.iso.rstrip(b"/").rpartition(b"/")[::2]
        if not (disk_name and iso_name and e.disk.startswith(b"/") and e.iso.startswith(b"/")):
            raise ValueError(f"not an absolute path below /: {e.disk!r} -> {e.iso!r}")
        disk_parent, iso_parent = disk_parent or b"/", iso_parent or b"/"
        lines += [f"-cdx {quote(arg_)}" for arg_, _ in _cd_steps(disk_dir, disk_parent)]
        for arg_, reached in _cd_steps(iso_dir, iso_parent):
            if reached not in made:
                lines.append(f"-mkdir {quote(arg_)} --")
            lines.append(f"-cd {quote(arg_)}")
        disk_dir, iso_dir = disk_parent, iso_parent
        up = iso_parent
        while up not in made:
            made.add(up)
            up = up.rpartition(b"/")[0] or b"/"
        if e.kind in ("dir", "tree"):
            made.add(e.iso.rstrip(b"/"))
        if e.kind == "dir":
            lines.append(f"-map_single {quote(disk_name)} {quote(iso_name)}")
        elif e.kind == "cut":
            lines.append(f"-cut_out {quote(disk_name)} {e.offset} {e.length} {quote(iso_name)}")
            if (e.attrs or e.acl) and not e.lists:
                raise ValueError(f"no lists for the ACL and xattrs of {e.iso!r}")
            if e.attrs:
                lines.append(f"-setfattr_list {quote(e.lists + XATTR_LIST)}")
            if e.acl:
                if patterns:
                    lines.append("-iso_rr_pattern off")
                    patterns = False
                lines.append(f"-setfacl_list {quote(e.lists + ACL_LIST)}")
        else:
            lines.append(f"-map {quote(disk_name)} {quote(iso_name)}")
    return "\n".join(lines) + "\n"


def is_image_drive(drive: str) -> bool:
    return drive.startswith("images:")


def images_dir(drive: str) -> str:
    return drive[len("images:"):].rstrip("/") or "/"


def image_path(drive: str, volid: str) -> str:
    return f"{images_dir(drive).rstrip('/')}/{volid}.iso"


# the name image_path gives a disc's image, RAB<checkpoint>D<disc, two digits or more>.iso
IMAGE_NAME = re.compile(r"RAB([0-9]+)D[0-9]{2,}\.iso")


def device_of(drive: str, volid: str) -> str:
    """xorriso's drive address: a real burner as is, an image as `stdio:DIR/VOLID.iso`."""
    return "stdio:" + image_path(drive, volid) if is_image_drive(drive) else drive


def _write_argv(xorriso: str, outdev: str, cmdfile: str) -> list[str]:
    return [xorriso, "-no_rc", "-backslash_codes", "on", "-pkt_output", "on", "-abort_on", "FAILURE",
            *ISO_SETTINGS, "-outdev", arg(outdev), "-options_from_file", arg(cmdfile)]


def burn_argv(xorriso: str, drive: str, volid: str, cmdfile: str) -> list[str]:
    argv = _write_argv(xorriso, device_of(drive, volid), cmdfile)
    if not is_image_drive(drive):
        argv += ["-close", "on"]
    return argv + ["-commit", "-end"]   # a real disc is ejected after it is verified


def trial_argv(xorriso: str, cmdfile: str) -> list[str]:
    """The image of a command file, made as a disc's is and written to /dev/null."""
    return _write_argv(xorriso, "stdio:/dev/null", cmdfile) + ["-commit", "-end"]


def check_argv(xorriso: str, indev: str, volid: str) -> list[str]:
    """Volume id, readability of every block, and the MD5 of the session and of every file."""
    return [xorriso, "-no_rc", "-backslash_codes", "on", "-pkt_output", "on", "-md5", "on",
            "-assert_volid", volid, "FATAL", "-indev", arg(indev),
            "-check_media", "--", "-check_md5_r", "SORRY", "/", "--", "-end"]


def concat_argv(xorriso: str, indev: str, volid: str, iso_paths: list[bytes]) -> list[str]:
    """The content of these files of the image, one after the other, on standard output (the names
    as they are: `*`, `?` and `[` are no patterns)."""
    return [xorriso, "-no_rc", "-backslash_codes", "on", "-assert_volid", volid, "FATAL", "-indev", arg(indev),
            "-iso_rr_pattern", "off", "-osirrox", "on", "-concat", "append", "-", *(arg(p) for p in iso_paths),
            "--", "-end"]


def extract_argv(xorriso: str, indev: str, volid: str, target: str, devices: bool = True) -> list[str]:
    """The whole disc into `target`, with each file's mode as it was backed up (a file with an
    ACL keeps its group bits in the ACL, its mask, which `-acl on` sets again) and its hard links.
    Both are given before the image is loaded, or what they need is not read from it. Without
    `devices` (a user other than root cannot make them), its device nodes are passed over."""
    return [xorriso, "-no_rc", "-backslash_codes", "on", "-pkt_output", "on",
            "-assert_volid", volid, "FATAL", "-acl", "on", "-hardlinks", "on", "-indev", arg(indev),
            "-osirrox", "on:device_files" if devices else "on", "-extract", "/", arg(target), "-end"]


LIST_ENV = {"TZ": "UTC0"}


def list_argv(xorriso: str, indev: str, volid: str) -> list[str]:
    """Every entry of the image as `ls -dl` shows it (parse_lsdl), each mode as its ACL makes it;
    its times in the zone of the process (LIST_ENV: UTC); then where each file's data starts
    (parse_report_lba)."""
    return [xorriso, "-no_rc", "-assert_volid", volid, "FATAL", "-acl", "on", "-indev", indev,
            "-backslash_codes", "encode_results", "-find", "/", "-exec", "lsdl", "--",
            "-find", "/", "-type", "f", "-exec", "report_lba", "--", "-end"]


def attrs_argv(xorriso: str, indev: str, volid: str) -> list[str]:
    """The xattrs of every entry of the image as `getfattr -d` shows them (AAIP's own isofs.* left
    out), then its ACLs as `getfacl` does (parse_getfattr). xorriso keeps an ACL apart from the
    system.posix_acl_* xattrs that `-xattr any` reads too: both are listed."""
    return [xorriso, "-no_rc", "-assert_volid", volid, "FATAL", "-acl", "on", "-xattr", "any", "-indev", indev,
            "-backslash_codes", "encode_results", "-find", "/", "-exec", "getfattr", "--",
            "-find", "/", "-exec", "getfacl", "--", "-end"]


def volid_argv(xorriso: str, indev: str) -> list[str]:
    return [xorriso, "-no_rc", "-pkt_output", "on", "-indev", arg(indev), "-pvd_info", "-end"]


def media_argv(xorriso: str, device: str) -> list[str]:
    """What is in the burner: blank or not, and its free space."""
    return [xorriso, "-no_rc", "-pkt_output", "on", "-outdev", arg(device), "-toc", "-tell_media_space", "-end"]


def eject_argv(xorriso: str, device: str) -> list[str]:
    return [xorriso, "-no_rc", "-outdev", arg(device), "-eject", "all", "-end"]


# --- output parsing ------------------------------------------------------------------------------

_PKT = re.compile(r"^([RIM]):([01]): ?(.*)$", re.S)
_UPDATE = re.compile(r"UPDATE\s*:\s*Writing:\s+(\d+)s\s+([\d.]+)%")
_SPACE = re.compile(r"Media space\s*:\s*(\d+)s")
_AFTER = re.compile(r"After commit\s*:\s*(\d+)s")
_STATUS = re.compile(r"Media status\s*:\s*(.+)")
_MISMATCH = re.compile(r"MD5 MISMATCH:\s*'(.*)'\s*$")
_REGION = re.compile(r"Media region\s*:\s*(\d+)\s*,\s*(\d+)\s*,\s*(\S+)\s*(\S*)")
_VOLID = re.compile(r"Volume [Ii]d\s*:\s*'?([^']*)'?")
# `-exec lsdl` under encode_results: a name is single-quoted, its quotes written as '"'"' and
# control and 8-bit bytes as backslash codes, so the line holds nothing unquoted but the fields
_WORD = rb"(?:'[^']*'|\"'\")+"
_WORD_PART = re.compile(rb"'([^']*)'|\"'\"")
_LSDL = re.compile(rb"([-dlpcbs])([-rwxsStT]{9})\+?\s+\d+\s+(\d+)\s+(\d+)\s+\S+\s+([^'\"]*?)\s(" + _WORD + rb")"
                   rb"(?: -> (" + _WORD + rb"))?")
_KINDS = {b"-": 0o100000, b"d": 0o040000, b"l": 0o120000, b"p": 0o010000, b"c": 0o020000, b"b": 0o060000,
          b"s": 0o140000}


def payload(line: bytes | str) -> tuple[str, str]:
    """(channel, text) of one `-pkt_output on` line; channel '' when it is not one."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    m = _PKT.match(line)
    return (m.group(1), m.group(3)) if m else ("", line)


def parse_update(text: str) -> dict | None:
    """`xorriso : UPDATE : Writing:  12225s  78.6%  fifo 0%  buf 50%` -> sectors and percent."""
    m = _UPDATE.search(text)
    if not m:
        return None
    return {"sectors": int(m.group(1)), "percent": float(m.group(2))}


def unescape_output(text: str) -> bytes:
    """Undo xorriso's encode_output: \\n \\t \\\\ and \\ooo octal codes, back to the name's bytes."""
    raw = text.encode("utf-8", "surrogateescape")
    out = bytearray()
    i = 0
    simple = {ord("n"): 10, ord("t"): 9, ord("r"): 13, ord("a"): 7, ord("b"): 8, ord("f"): 12,
              ord("v"): 11, ord("e"): 27, ord("\\"): 92}
    while i < len(raw):
        c = raw[i]
        if c == 92 and i + 1 < len(raw):
            nxt = raw[i + 1]
            code = raw[i + 1:i + 4]
            if len(code) == 3 and all(48 <= x <= 55 for x in code):
                out.append(int(code, 8) & 0xFF)
                i += 4
                continue
            if nxt in simple:
                out.append(simple[nxt])
                i += 2
                continue
        out.append(c)
        i += 1
    return bytes(out)


def _unquoted(word: bytes) -> bytes:
    return b"".join(unescape_output(p.group(1).decode("ascii", "surrogateescape")) if p.group(1) is not None
                    else b"'" for p in _WORD_PART.finditer(word))


def parse_lsdl(line: bytes) -> tuple[bytes, int, bytes | None, tuple[int, int]] | None:
    """(image path, st_mode, a symlink's target, (uid, gid)) from one line of `list_argv`; None
    for another."""
    m = _LSDL.fullmatch(line.rstrip(b"\r\n"))
    if m is None:
        return None
    perms = m.group(2)
    mode = _KINDS[m.group(1)]
    for ch, bit in zip(perms, (0o400, 0o200, 0o100, 0o40, 0o20, 0o10, 0o4, 0o2, 0o1)):
        if ch not in b"-ST":
            mode |= bit
    mode |= (0o4000 if perms[2] in b"sS" else 0) | (0o2000 if perms[5] in b"sS" else 0) | \
        (0o1000 if perms[8] in b"tT" else 0)
    target = None if m.group(7) is None else _unquoted(m.group(7))
    return _unquoted(m.group(6)), mode, target, (int(m.group(3)), int(m.group(4)))


def lsdl_date(line: bytes) -> str | None:
    """The time of one line of `list_argv` as it shows it: 'Sep 13 12:26' (to the minute) or
    'Sep 13 2020' (to the day), its spaces made single; None for another line."""
    m = _LSDL.fullmatch(line.rstrip(b"\r\n"))
    return None if m is None else " ".join(m.group(5).decode("ascii", "replace").split())


_LBA = re.compile(rb"File data lba:\s*0\s*,\s*(\d+)\s*,\s*\d+\s*,\s*(\d+)\s*,\s*(" + _WORD + rb")")


def parse_report_lba(line: bytes) -> tuple[bytes, int, int] | None:
    """(image path, first block of its data, size) from a line of `report_lba` (its first extent);
    None for another line. The names of one file (hard links) share its data; so do files of size 0."""
    m = _LBA.fullmatch(line.rstrip(b"\r\n"))
    return None if m is None else (_unquoted(m.group(3)), int(m.group(1)), int(m.group(2)))


LSDL_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def lsdl_dates(t: int) -> tuple[str, str]:
    """The two ways `lsdl` shows a time `t` (UTC, as list_argv is run): to the minute (a recent
    one) and to the day."""
    g = time.gmtime(t)
    day = f"{LSDL_MONTHS[g.tm_mon - 1]} {g.tm_mday}"
    return f"{day} {g.tm_hour:02d}:{g.tm_min:02d}", f"{day} {g.tm_year}"


_FILE_HEAD = b"# file: "
_ATTR = re.compile(rb'([^=]+)="(.*)"')
_ACL_LINE = re.compile(rb"(?:default:)?(?:user|group|mask|other):[^:]*:[-rwx]{3}")
ACL_KEY = b"(acl)"      # the text of an ACL that says more than the mode (`getfacl` lines), among the xattrs
_TRIVIAL = re.compile(rb"user::...\ngroup::...\nother::...")


def parse_getfattr(lines: Iterable[bytes]) -> dict[bytes, dict[bytes, bytes]]:
    """Image path (relative) -> {name: value} of its xattrs, and under ACL_KEY the lines of an ACL
    that says more than the mode, from `attrs_argv`; an entry without any is left out."""
    out: dict[bytes, dict[bytes, bytes]] = {}
    current: dict[bytes, bytes] | None = None
    for line in lines:
        line = line.rstrip(b"\r\n")
        if line.startswith(_FILE_HEAD):
            path = unescape_output(line[len(_FILE_HEAD):].decode("ascii", "surrogateescape")).strip(b"/")
            current = out.setdefault(path, {})
            continue
        if _ACL_LINE.fullmatch(line) and current is not None:
            current[ACL_KEY] = (current[ACL_KEY] + b"\n" if ACL_KEY in current else b"") + line
            continue
        m = _ATTR.fullmatch(line)
        if m and current is not None:
            current[unescape_output(m.group(1).decode("ascii", "surrogateescape"))] = \
                unescape_output(m.group(2).decode("ascii", "surrogateescape"))
    for attrs in out.values():
        if _TRIVIAL.fullmatch(attrs.get(ACL_KEY, b"")):
            del attrs[ACL_KEY]
    return {path: attrs for path, attrs in out.items() if attrs}


@dataclass
class CheckResult:
    ok: bool = True
    mismatched: list[bytes] = field(default_factory=list)   # files whose MD5 does not match
    bad_regions: list[tuple[int, int, str]] = field(default_factory=list)
    md5_found: bool = False
    messages: list[str] = field(default_factory=list)


def parse_check(lines: Sequence[str], returncode: int) -> CheckResult:
    """Read the result of `check_argv`: bad blocks, MD5 mismatches, a wrong volume id."""
    res = CheckResult(ok=returncode == 0)
    for line in lines:
        _, text = payload(line)
        text = text.rstrip("\n")
        m = _MISMATCH.search(text)
        if m:
            res.mismatched.append(unescape_output(m.group(1)))
            res.ok = False
            continue
        m = _REGION.search(text)
        if m and m.group(3).startswith("-"):
            res.bad_regions.append((int(m.group(1)), int(m.group(2)), (m.group(3) + " " + m.group(4)).strip()))
            res.ok = False
            continue
        if "File contents and their MD5 checksums match" in text:
            res.md5_found = True
        elif "md5_mismatch" in text or "Mismatch detected" in text:
            res.ok = False
        elif "There is no MD5 checksum array" in text or "Not a single file with MD5" in text:
            res.ok = False
            res.messages.append("the disc carries no MD5 checksums")
        elif "FATAL" in text or "FAILURE" in text or "SORRY" in text:
            res.messages.append(text.replace("xorriso : ", "").strip())
    if not res.md5_found and not res.mismatched and res.ok:
        res.ok = False
        res.messages.append("xorriso did not confirm the MD5 checksums")
    return res


def parse_media(lines: Sequence[str]) -> dict:
    """From `media_argv`: {'status': 'is blank', 'blank': True, 'free_sectors': N}."""
    out: dict = {"status": None, "blank": False, "free_sectors": None}
    for line in lines:
        _, text = payload(line)
        m = _STATUS.search(text)
        if m and out["status"] is None:
            out["status"] = m.group(1).strip()
            out["blank"] = "is blank" in out["status"]
        m = _SPACE.search(text)
        if m:
            out["free_sectors"] = int(m.group(1))
        m = _AFTER.search(text)
        if m and out["free_sectors"] is None:
            out["free_sectors"] = int(m.group(1))
    return out


def parse_volid(lines: Sequence[str]) -> str | None:
    for line in lines:
        _, text = payload(line)
        m = _VOLID.search(text)
        if m:
            return m.group(1).strip()
    return None
