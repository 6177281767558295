"""A source's transfer options (`bwlimit`, `rsync_path`, `one_file_system`, `io_timeout`,
`rsync_options`): what each may hold (check-config). rsync.build_argv turns them into flags.

`rsync_options` is an allow-list: a flag not in ALLOWED is refused. Some flags would break what a
backup promises (an older backup is never modified, every item is itemized, the transfer goes over
rabtui's own ssh); they are named in REFUSED with the reason, so the operator reads why.
"""

from __future__ import annotations

import os
import re
import shlex

IO_TIMEOUT = 600            # seconds without data before rsync gives up (rsync's --timeout)
IO_TIMEOUT_MAX = 2 ** 31 - 1   # the most rsync takes
BLOCK_SIZE_MAX = 128 * 1024    # rsync's largest block (protocol 30 and later)

# Flags an operator may add: the flag, and for one that takes a value (`--flag=VALUE`), the value's
# pattern. Each changes how data travels or how changes are detected, never what a backup holds.
# Digits are ASCII ones (re.ASCII): Python's \d and int() take "３" and "٣", which rsync refuses.
ALLOWED: dict[str, re.Pattern | None] = {
    "--compress": None,
    "-z": None,
    "--compress-level": re.compile(r"-?\d{1,2}", re.ASCII),
    "--compress-choice": re.compile(r"auto|zstd|lz4|zlibx|zlib|none"),
    "--skip-compress": re.compile(r"[A-Za-z0-9/]+"),
    "--checksum": None,
    "-c": None,
    "--checksum-choice": re.compile(r"(auto|xxh128|xxh3|xxh64|xxhash|md5|md4|sha1|none)"
                                    r"(,(auto|xxh128|xxh3|xxh64|xxhash|md5|md4|sha1|none))?"),
    "--whole-file": None,
    "-W": None,
    "--no-whole-file": None,
    "--open-noatime": None,
    "--block-size": re.compile(r"\d+[kKmM]?", re.ASCII),
}

# Flags that make rsync compare contents instead of size and mtime. An archive directory saves a
# file once per path, size and mtime, and retention keeps the last copy of each such version: a file
# whose content changed under the same size and mtime (bit rot, a tool that set its time back) saved
# again would make the backup holding the only copy of the older content one a cleanup may delete.
# So they apply to standard directories only.
CONTENT_COMPARED = ("--checksum", "-c")


def options_for(options: tuple[str, ...], kind: str) -> tuple[str, ...]:
    """The source's `rsync_options` for a directory of `kind` (see CONTENT_COMPARED)."""
    return tuple(o for o in options if o not in CONTENT_COMPARED) if kind == "archive" else options


# Flags refused with the reason (a prefix matches the flag and its variants, e.g. --delete-after).
REFUSED: tuple[tuple[str, str], ...] = (
    ("--inplace", "it would write into files that older backups share as hard links"),
    ("--append", "it would write into files that older backups share as hard links"),
    ("--delete", "a backup is written into a new directory: there is nothing to delete"),
    ("--remove-source-files", "it would delete the files on the source"),
    ("--fake-super", "symlinks and special files would be saved as plain files, owners and modes as xattrs"
                     " that restores and checkpoints do not turn back"),
    ("-L", "it would follow symlinks instead of keeping them"),
    ("--copy-links", "it would follow symlinks instead of keeping them"),
    ("--copy-unsafe-links", "it would follow symlinks instead of keeping them"),
    ("--link-dest", "rabtui chooses the link base (the newest complete backup on the medium)"),
    ("--compare-dest", "rabtui chooses the comparison base (the medium's archive tree)"),
    ("--copy-dest", "rabtui chooses the link base (the newest complete backup on the medium)"),
    ("--out-format", "rabtui reads rsync's itemized output in its own format"),
    ("--info", "rabtui reads rsync's itemized output in its own format"),
    ("--itemize-changes", "rabtui reads rsync's itemized output in its own format"),
    ("-i", "rabtui reads rsync's itemized output in its own format"),
    ("-v", "rabtui reads rsync's itemized output in its own format"),
    ("--verbose", "rabtui reads rsync's itemized output in its own format"),
    ("-q", "rabtui reads rsync's itemized output in its own format"),
    ("--quiet", "rabtui reads rsync's itemized output in its own format"),
    ("--progress", "rabtui reads rsync's itemized output in its own format"),
    ("-P", "rabtui reads rsync's itemized output in its own format"),
    ("--stats", "rabtui reads rsync's itemized output in its own format"),
    ("-h", "rabtui reads rsync's itemized output in its own format"),
    ("--human-readable", "rabtui reads rsync's itemized output in its own format"),
    ("--files-from", "a backup holds the whole directory: use excludes to leave parts out"),
    ("--dry-run", "a backup that copies nothing is not a backup"),
    ("-n", "a backup that copies nothing is not a backup"),
    ("-e", "rabtui runs ssh itself, with the source's key, port and known hosts"),
    ("--rsh", "rabtui runs ssh itself, with the source's key, port and known hosts"),
    ("--rsync-path", "use the source's rsync_path key"),
    ("--bwlimit", "use the source's bwlimit key"),
    ("--timeout", "use the source's io_timeout key"),
    ("-x", "use the source's one_file_system key"),
    ("--one-file-system", "use the source's one_file_system key"),
    ("--exclude", "use the excludes key"),
)

_BWLIMIT = re.compile(r"(\d+\.?\d*|\.\d+)([kmgtp](?:i?b)?|b)?([+-]1)?", re.I | re.ASCII)
_POWERS = {"b": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def bwlimit_problem(value: str | int) -> str | None:
    """Why rsync would refuse `value` as --bwlimit (KiB/s for a bare number; a suffix K M G T P,
    with B or iB, as rsync reads it: "5M", "1.5MiB", "800KB"), or None."""
    text = str(value)
    m = _BWLIMIT.fullmatch(text)
    if m is None or isinstance(value, bool):
        return (f"{text!r} is not a rate rsync reads: KiB/s as an integer, or a number with a unit,"
                " e.g. \"5M\" or \"800K\"")
    number, unit, offset = m.groups()
    unit = (unit or "k").lower()
    base = 1000 if len(unit) == 2 and unit[1] == "b" and unit[0] != "b" else 1024
    rate = float(number) * base ** _POWERS[unit[0]] + int(offset or 0)
    if rate != 0 and rate < 512:
        return f"{text!r} is too small: rsync's least is 512 bytes per second (0 means no limit)"
    if rate >= 2 ** 63:
        return f"{text!r} is too large"
    return None


def _own_key_flag_problem(word: str) -> str | None | bool:
    """For a flag that has a key of its own, which rsync_path may hold to set the source's side
    ("rsync --bwlimit=5M" throttles at the source): why its value is wrong, None when it is right,
    False when `word` is no such flag."""
    flag, eq, value = word.partition("=")
    if flag == "--bwlimit":
        if not eq:
            return f"{word!r}: write --bwlimit=RATE"
        problem = bwlimit_problem(value)
        return problem and f"{word!r}: {problem}"
    if flag == "--timeout":
        ok = eq and value.isdigit() and int(value) <= IO_TIMEOUT_MAX
        return None if ok else f"{word!r}: write --timeout=SECONDS (0 to {IO_TIMEOUT_MAX})"
    if flag in ("-x", "--one-file-system"):
        return f"{word!r}: {flag} takes no value" if eq else None
    return False


# an rsync program's name: rsync, rsync3, rsync-3.2.7 (not rsync.lock)
_RSYNC_NAME = re.compile(r"rsync([-_]?[0-9.]+)?")
# wrappers' options that take the next word as their value (sudo -u USER, nice -n 19, flock -w 60)
_VALUE_OPTIONS = frozenset({"-u", "-g", "-U", "-C", "-D", "-h", "-p", "-r", "-n", "-c", "-w", "-E",
                            "--user", "--group", "--adjustment", "--class", "--classdata", "--timeout"})


def _program_at(words: list[str]) -> int | None:
    """Where the rsync program is among the words: the first that is not an option and whose name is
    rsync's, unless it is the value of the option before it and another such word follows
    (`sudo -u rsync rsync`). Without one, the last word that is not an option: a wrapper of another
    name (`/usr/local/bin/backup-rsync`) hands the words after it to rsync."""
    commands = [i for i, w in enumerate(words) if not w.startswith("-")]
    at = [i for i in commands if _RSYNC_NAME.fullmatch(os.path.basename(words[i]))]
    if len(at) > 1 and at[0] > 0 and words[at[0] - 1] in _VALUE_OPTIONS:
        return at[1]
    return at[0] if at else commands[-1] if commands else None


# Over SSH, rsync hands rsync_path to the source's shell: an operator there (outside quotes) ends
# the command and begins another, a redirection or a subshell; a local source's words are run as
# they are, the operator a word of them
_SHELL_OPERATOR = re.compile(r"[;&|<>()]+")


def _shell_problem(value: str) -> str | None:
    """Why the source's shell would run more than one command of words (or read another's output)
    from `value`, or None."""
    if any(ord(c) < 32 and c != "\t" for c in value):
        return "holds a control character (a line break ends a command for the source's shell)"
    for opening in ("`", "$("):
        if opening in value:
            return f"{opening!r}: the source's shell would run what it encloses as a command of its own"
    lexer = shlex.shlex(value, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        operator = next((w for w in lexer if _SHELL_OPERATOR.fullmatch(w)), None)
    except ValueError:       # said by the split into words
        return None
    if operator:
        return (f"{operator!r} is an operator of the source's shell (another command, a pipe, a redirection):"
                " rsync_path is one command; quote the words of an `sh -c` wrapper")
    return None


def rsync_path_problem(value: str) -> str | None:
    """The command and its wrappers ("sudo rsync", "nice -n 19 rsync"); after the rsync program
    only flags the allow-list holds, and those with a key of their own (a local source's
    rsync_path is the start of rabtui's own rsync command: a flag there is a flag of the backup).
    Nothing the source's shell would run as a command of its own (`;`, `|`, `$(...)`)."""
    shell = _shell_problem(value)
    if shell:
        return shell
    try:
        words = shlex.split(value)
    except ValueError as exc:
        return f"cannot be split into words: {exc}"
    if not words:
        return "must name a command, e.g. \"sudo rsync\""
    if words[0].startswith("-"):
        # over SSH, rsync hands it to ssh after the host, where ssh takes it for an option of its own
        return f"must begin with a command (rsync, or a wrapper such as sudo), not the flag {words[0]!r}"
    at = _program_at(words)
    for word in words[at + 1:] if at is not None else ():
        if not word.startswith("-"):
            return f"{word!r} after {words[at]!r}: only rsync's flags may follow it"
        own = _own_key_flag_problem(word)
        problem = rsync_option_problem(word) if own is False else own
        if problem:
            return problem
    return None


def _size(value: str) -> int:
    """A --block-size value in bytes: digits with an optional K or M."""
    unit = {"k": 1024, "m": 1024 * 1024}.get(value[-1:].lower(), 1)
    return int(value[:-1] if unit > 1 else value) * unit


def rsync_option_problem(option: str) -> str | None:
    """Why `option` may not be one of `rsync_options`, or None when the allow-list holds it."""
    flag, eq, value = option.partition("=")
    if flag in ALLOWED:
        pattern = ALLOWED[flag]
        if pattern is None and eq:
            return f"{option!r}: {flag} takes no value"
        if pattern is not None and not (eq and pattern.fullmatch(value)):
            return f"{option!r}: write {flag}=VALUE with a valid value"
        if flag == "--block-size" and _size(value) > BLOCK_SIZE_MAX:
            return f"{option!r}: rsync's largest block is {BLOCK_SIZE_MAX} bytes (128K)"
        return None
    for refused, reason in REFUSED:
        if flag == refused or (refused.startswith("--") and flag.startswith(refused)):
            return f"{option!r} is refused: {reason}"
    return f"{option!r} is not in the allow-list ({', '.join(ALLOWED)})"
