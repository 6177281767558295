"""xorriso command lines and command files (pure); what xorriso prints is read by
xorriso_output.py.

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
xattr (its values may hold any byte, 0 too, which `-setfattr` cannot set; one line each, at most
16 KiB: a file to cut with a longer value is refused when planned, too_long), then `-setfacl_list`
for the ACL (after: `-setfattr_list` removes an ACL set before it). So a part holds what the whole
file would, its ACL and its system.posix_acl_access xattr beside it. `-setfacl_list` takes its
names as patterns unless `-iso_rr_pattern off`.

An entry with an xattr of an empty value is mapped without its ACL and xattrs (BARE_MAP), then
given them from the same lists, right after its `-map` or `-map_single`. A directory so mapped
loses its setuid, setgid and sticky bits (xorriso 1.5.4): they are added again with `-chmod`
before its ACL is set (which keeps them).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from typing import Iterable

from rabtui import fmt
from rabtui.checkpoint import acl_dirs

# The last six words are what `-for_backup` stands for (it turns -md5 on too): ACLs and xattrs of
# every namespace readable (AAIP), hard links as hard links. Special files go in through Rock Ridge.
ISO_SETTINGS = ["-rockridge", "on", "-joliet", "on", "-md5", "on",
                "-compliance", "iso_9660_level=3:no_emul_toc",
                "-hardlinks", "on", "-acl", "on", "-xattr", "any"]

# around the -map of an entry that libisofs must not read the ACL and xattrs of: it reads neither
# with all three off (with -hardlinks on it reads the xattrs whatever -xattr says, with -acl on the
# user. ones); the image's hard links are still found as it is written
BARE_MAP = ["-hardlinks off", "-acl off", "-xattr off"]
BARE_END = ["-hardlinks on", "-acl on", "-xattr any"]    # as ISO_SETTINGS has them

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

    # "dir" (the directory itself) | "file" | "tree" (a whole directory) | "cut". A tree is only the
    # staged rabtui/ (a few files): `-map` adds a directory's entries in the order readdir gives
    # them, which _insertion_key cannot set, quadratic in their number unless it is descending
    # (ext4's hash order: 40,000 files 21 s, 100,000 more than 400 s; given one by one, 4.6 and 11 s).
    # Everything else, fillers (add/N) too, comes one entry at a time.
    kind: str
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
    # for "file" and "dir": mapped without its ACL and xattrs, given from the lists (BARE_MAP)
    bare: bool = False
    # for a bare "dir": its st_mode on disk, whose setuid, setgid and sticky bits xorriso drops then
    mode: int = 0
    # the catalog's row (layout.Row) of the entry, whose kind, mode, owner, time and size as recorded are
    # compared with `disk` before the disc is begun (burn.py); None for the directories on the way
    row: object = None


PATH_MAX = 4095          # the longest path xorriso composes, on disk or in the image
_STEP = 1100             # quoted bytes per -cd/-cdx step: one name of 255 bytes always fits


def cd_steps(where: bytes | None, target: bytes) -> list[tuple[bytes, bytes]]:
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
# what a value between its quotes cannot hold as it is: 0 ends it (strlen), a newline the line, a
# backslash begins a code; any other byte is taken as it is, so a value takes about its own length
_LIST_CODED = re.compile(rb"[\x00\n\\]")


def list_word(word: bytes) -> bytes:
    """A name or value in a -setfattr_list or -setfacl_list file: unusual bytes as \\ooo."""
    return b"".join(bytes([b]) if b in _LIST_PLAIN else b"\\%03o" % b for b in word)


def list_line(name: bytes, value: bytes) -> bytes:
    """One xattr as -setfattr_list reads it: name="value", the value's bytes as they are but those
    _LIST_CODED."""
    return list_word(name) + b'="' + _LIST_CODED.sub(lambda m: b"\\%03o" % m.group()[0], value) + b'"'


def too_long(attrs: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Why one of these xattrs cannot be given to a part of a cut file (None when all can): its
    line is longer than -setfattr_list reads. (-setfattr takes no byte 0, and a program argument
    of xorriso 1.5.4 over 40,944 bytes overruns its message buffer, past 44 KB it crashes.)"""
    for n, v in attrs:
        if len(line := list_line(n, v)) > LIST_LINE:
            return (f"its xattr {os.fsdecode(n)} ({len(v)} bytes) takes {len(line)} bytes as xorriso reads it,"
                    f" more than the {LIST_LINE} of a line")
    return None


def map_single_drops(names: Iterable[bytes | str]) -> bool:
    """Does a directory with xattrs of these names hold one that xorriso's `-map_single` leaves out?
    xorriso 1.5.4 gives a directory it maps by itself its ACL and user. xattrs only, not its
    trusted. and security. ones (an SELinux label, say; `-map` of a whole tree gives them all):
    such a directory is mapped bare and given them all from lists (cut_attrs.py)."""
    return any(not os.fsencode(n).startswith((b"user.", b"system.posix_acl_")) for n in names)


def attr_lists(entries: Iterable[Entry]) -> list[tuple[bytes, bytes]]:
    """(path, text) of each file that the command file of `entries` reads the ACL and xattrs of a
    cut part from; the part is named as it is in its directory of the image, where the command
    file is when it reads them. ValueError for an xattr too long for a line of its own."""
    out = []
    for e in entries:
        if not (e.kind == "cut" or e.bare) or not (e.attrs or e.acl):
            continue
        head = b"# file: " + list_word(e.iso.rstrip(b"/").rpartition(b"/")[2]) + b"\n"
        if e.attrs:
            if why := too_long(e.attrs):
                raise ValueError(why)
            out.append((e.lists + XATTR_LIST, head + b"".join(list_line(n, v) + b"\n" for n, v in e.attrs)))
        if e.acl:
            out.append((e.lists + ACL_LIST, head + e.acl.encode("utf-8", "surrogateescape") + b"\n"))
    return out


def _special_bits(mode: int) -> list[str]:
    """-chmod arguments that add the setuid, setgid and sticky bits of `mode`, and only them."""
    return [bits for bit, bits in ((0o4000, "u+s"), (0o2000, "g+s"), (0o1000, "a+t")) if mode & bit]


def _insertion_key(entry: Entry) -> tuple[bytes, ...]:
    """A directory before what it holds, and the names of one directory in descending byte order:
    libisofs keeps a directory's children in a list sorted by name (strcmp) and walks it from the
    head to insert each one, so each name then goes in at the head. In ascending order a directory
    of n files cost n*n/2 steps (100,000 files: more than 10 minutes for one CD)."""
    return tuple(bytes(255 - b for b in name) + b"\xff" for name in entry.iso.strip(b"/").split(b"/"))


def command_file(volid: str, entries: Iterable[Entry]) -> str:
    """The text of the command file for one disc (with the files of attr_lists beside it)."""
    lines = [f"-volid {quote(volid)}"]
    disk_dir = iso_dir = None
    patterns = True
    made = {b"/"}        # directories in the image so far: -cd into another one makes it first
    tops: set[bytes] = set()     # the folders at the disc's root that -mkdir makes (data/, add/)
    for e in sorted(entries, key=_insertion_key):
        if e.kind not in ("dir", "file", "tree", "cut"):
            raise ValueError(f"unknown entry kind {e.kind!r}")
        disk_parent, disk_name = e.disk.rstrip(b"/").rpartition(b"/")[::2]
        iso_parent, iso_name = e.iso.rstrip(b"/").rpartition(b"/")[::2]
        if not (disk_name and iso_name and e.disk.startswith(b"/") and e.iso.startswith(b"/")):
            raise ValueError(f"not an absolute path below /: {e.disk!r} -> {e.iso!r}")
        disk_parent, iso_parent = disk_parent or b"/", iso_parent or b"/"
        lines += [f"-cdx {quote(arg_)}" for arg_, _ in cd_steps(disk_dir, disk_parent)]
        for arg_, reached in cd_steps(iso_dir, iso_parent):
            if reached not in made:
                if (top := b"/" + reached.split(b"/")[1]) not in made:    # this -mkdir makes it
                    tops.add(top)
                lines.append(f"-mkdir {quote(arg_)} --")
            lines.append(f"-cd {quote(arg_)}")
        disk_dir, iso_dir = disk_parent, iso_parent
        up = iso_parent
        while up not in made:
            made.add(up)
            up = up.rpartition(b"/")[0] or b"/"
        if e.kind in ("dir", "tree"):
            made.add(e.iso.rstrip(b"/"))
        if e.bare and e.kind not in ("dir", "file"):
            raise ValueError(f"only a file or directory is mapped bare, not {e.kind!r}")
        lines += BARE_MAP if e.bare else []
        if e.kind == "dir":
            lines.append(f"-map_single {quote(disk_name)} {quote(iso_name)}")
        elif e.kind == "cut":
            lines.append(f"-cut_out {quote(disk_name)} {e.offset} {e.length} {quote(iso_name)}")
        else:
            lines.append(f"-map {quote(disk_name)} {quote(iso_name)}")
        lines += BARE_END if e.bare else []
        if e.bare and (special := _special_bits(e.mode if e.kind == "dir" else 0)):
            if patterns:
                lines.append("-iso_rr_pattern off")
                patterns = False
            lines += [f"-chmod {bits} {quote(iso_name)} --" for bits in special]
        if e.kind == "cut" or e.bare:
            if (e.attrs or e.acl) and not e.lists:
                raise ValueError(f"no lists for the ACL and xattrs of {e.iso!r}")
            if e.attrs:
                lines.append(f"-setfattr_list {quote(e.lists + XATTR_LIST)}")
            if e.acl:
                if patterns:
                    lines.append("-iso_rr_pattern off")
                    patterns = False
                lines.append(f"-setfacl_list {quote(e.lists + ACL_LIST)}")
    # closed as a medium's source directories are: a disc mounted on the server as its README says
    # (mount -o ro /dev/sr0 /mnt) would show every user what the backups hold (-mkdir gives 0755)
    if tops and patterns:
        lines.append("-iso_rr_pattern off")
    lines += [f"-chmod go-rwx {quote(top)} --" for top in sorted(tops)]
    return "\n".join(lines) + "\n"


def is_image_drive(drive: str) -> bool:
    return drive.startswith("images:")


def images_dir(drive: str) -> str:
    return drive[len("images:"):].rstrip("/") or "/"


def image_path(drive: str, volid: str) -> str:
    return f"{images_dir(drive).rstrip('/')}/{volid}.iso"


def writing_path(drive: str, volid: str) -> str:
    """Where an images: drive's disc is written, renamed to its image_path once xorriso has written
    it whole: an image cut short (a kill, a power cut) never carries a disc's name, which an
    operator would burn later, or abandon and leave."""
    return image_path(drive, volid) + WRITING


# the name image_path gives a disc's image, RAB<checkpoint>D<disc, two digits or more>.iso
IMAGE_NAME = re.compile(r"RAB([0-9]+)D[0-9]{2,}\.iso")
WRITING = ".writing"     # after an image's name while xorriso writes it (writing_path)
# seconds a drive may answer nothing (neither printing nor working) before it is taken for hung,
# where no checkpoint.io_timeout is given
DRIVE_SILENCE = 600


def no_image(path: str) -> str | None:
    """What is at an image's path that xorriso reads as a blank medium and is no file ("a FIFO,
    not a disc image"): a directory, a FIFO, a socket (a device may be a burner); None otherwise."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISBLK(mode) or stat.S_ISCHR(mode):
        return None
    return f"a {fmt.file_kind(mode)}, not a disc image"


def blank(path: str) -> str:
    """What an image at `path` that xorriso reads as a blank medium is."""
    return f"{path} is {no_image(path) or 'blank: nothing is written on it'}"


def device_of(drive: str, volid: str) -> str:
    """xorriso's drive address: a real burner as is, an image as `stdio:DIR/VOLID.iso`."""
    return "stdio:" + image_path(drive, volid) if is_image_drive(drive) else drive


def _write_argv(xorriso: str, outdev: str, cmdfile: str) -> list[str]:
    return [xorriso, "-no_rc", "-backslash_codes", "on", "-pkt_output", "on", "-abort_on", "FAILURE",
            *ISO_SETTINGS, "-outdev", arg(outdev), "-options_from_file", arg(cmdfile)]


def burn_argv(xorriso: str, drive: str, volid: str, cmdfile: str, into: str | None = None) -> list[str]:
    """`into`: the file an images: drive writes (writing_path), when not the disc's image itself."""
    argv = _write_argv(xorriso, "stdio:" + into if into else device_of(drive, volid), cmdfile)
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
    return [xorriso, "-no_rc", "-backslash_codes", "on", "-assert_volid", volid, "FATAL", *ACLS_AS_READ,
            "-indev", arg(indev), "-iso_rr_pattern", "off", "-osirrox", "on", "-concat", "append", "-", *(arg(p) for p in iso_paths),
            "--", "-end"]


def extract_argv(xorriso: str, indev: str, volid: str, target: str, devices: bool = True,
                 strip: str | None = None) -> list[str]:
    """The whole disc into `target`, with each file's mode as it was backed up (a file with an
    ACL keeps its group bits in the ACL, its mask, which `-acl on` sets again) and its hard links.
    Both are given before the image is loaded, or what they need is not read from it. Without
    `devices` (a user other than root cannot make them), its device nodes are passed over.
    `-acl on` sets the user. xattrs too, whatever `-xattr` says (libisofs 1.5.4 hands them over
    with the ACL), and an entry whose xattr the target's file system refuses is left without its
    mode and times: `strip`, a -setfattr_list file, first takes the xattrs off the entries it
    names (in memory only: the image is left as it is, -rollback_end). The ACLs of its directories
    that have one are listed first (before `strip` touches any entry), for acl_dirs.give_masks."""
    before = ["-xattr", "any", "-setfattr_list", arg(strip), "-xattr", "off"] if strip else []
    return [xorriso, "-no_rc", "-backslash_codes", "on", "-pkt_output", "on",
            "-assert_volid", volid, "FATAL", "-acl", "on", "-hardlinks", "on", "-indev", arg(indev),
            *acl_dirs.find_argv("/"), *before,
            "-osirrox", "on:device_files" if devices else "on", "-extract", "/", arg(target),
            "-rollback_end" if strip else "-end"]


LIST_ENV = {"TZ": "UTC0"}

# Loaded with none of -acl, -xattr, -md5, -hardlinks on, libisofs turns each ACL of the disc into
# text to take it out of the mode, looking up the name of each id it holds (NSS: some 30 files
# opened for an id this machine does not know, 25 s for 100,000 files); with -acl on it keeps the
# ACL as read. Given before -indev to the runs that print no mode and no ACL.
ACLS_AS_READ = ["-acl", "on"]


def list_argv(xorriso: str, indev: str, volid: str) -> list[str]:
    """Every entry of the image as `ls -dl` shows it (parse_lsdl), each mode as its ACL makes it;
    its times in the zone of the process (LIST_ENV: UTC); then where each file's data starts
    (parse_report_lba). `-exec lsdl` looks each entry up by its path: quadratic in the entries of
    a directory, where listed_argv is not (which needs a command file)."""
    return [xorriso, "-no_rc", "-assert_volid", volid, "FATAL", "-acl", "on", "-indev", indev,
            "-backslash_codes", "encode_results", "-find", "/", "-exec", "lsdl", "--",
            "-find", "/", "-type", "f", "-exec", "report_lba", "--", "-end"]


def listed_argv(xorriso: str, indev: str, volid: str, cmdfile: str) -> list[str]:
    """The entries of the image as list_argv shows them, linear in their number: each directory
    listed from within it by a disc_listing.command_file, `cmdfile`; then where each file's data
    starts (parse_report_lba: `-exec report_lba` holds its node). Times in the zone of LIST_ENV."""
    return [xorriso, "-no_rc", "-assert_volid", volid, "FATAL", "-acl", "on", "-iso_rr_pattern", "off",
            "-indev", indev, "-backslash_codes", "in_double_quotes:encode_output", "-options_from_file", cmdfile,
            "-find", "/", "-type", "f", "-exec", "report_lba", "--", "-end"]


def attrs_argv(xorriso: str, indev: str, volid: str) -> list[str]:
    """The xattrs of every entry of the image as `getfattr -d` shows them (AAIP's own isofs.* left
    out), then its ACLs as `getfacl` does (parse_getfattr). xorriso keeps an ACL apart from the
    system.posix_acl_* xattrs that `-xattr any` reads too: both are listed."""
    return [xorriso, "-no_rc", "-assert_volid", volid, "FATAL", "-acl", "on", "-xattr", "any", "-indev", indev,
            "-backslash_codes", "encode_results", "-find", "/", "-exec", "getfattr", "--",
            "-find", "/", "-exec", "getfacl", "--", "-end"]


# Without -backslash_codes the arguments are taken as they are: a path is given unchanged (arg()
# would double its backslashes for none to undo them).
def volid_argv(xorriso: str, indev: str) -> list[str]:
    return [xorriso, "-no_rc", "-pkt_output", "on", *ACLS_AS_READ, "-indev", indev, "-pvd_info", "-end"]


def media_argv(xorriso: str, device: str) -> list[str]:
    """What is in the burner: blank or not, and its free space."""
    return [xorriso, "-no_rc", "-pkt_output", "on", "-outdev", device, "-toc", "-tell_media_space", "-end"]


def eject_argv(xorriso: str, device: str) -> list[str]:
    return [xorriso, "-no_rc", "-outdev", device, "-eject", "all", "-end"]
