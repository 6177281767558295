"""Checking a written disc: its volume id, every block readable, xorriso's MD5 of the session and
of each file, and then each file read back from the disc against the sha256 in the catalog.

The read-back extracts the disc with osirrox into a scratch directory and hashes what came out,
so a changed byte in any file is found even where the MD5 tags were changed with it.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from rabtui import proc
from rabtui.checkpoint import content, layout, shortpath, xorriso
from rabtui.checkpoint.content import DIR_MARK, LINK_MARK, MARKS, SPECIAL_MARK
from rabtui.checkpoint.layout import Row
from rabtui.events import LOG, PROGRESS, WARNING, Emit, Event


@dataclass
class VerifyResult:
    volid: str
    found_volid: str | None = None
    ok: bool = False
    mismatched: list[bytes] = field(default_factory=list)   # disc paths whose content differs
    missing: list[bytes] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    @property
    def wrong_disc(self) -> bool:
        return self.found_volid is not None and self.found_volid != self.volid

    def describe(self, limit: int = 10) -> str:
        if self.ok:
            return f"{self.volid}: verified"
        if self.found_volid is None:
            return f"{self.volid}: cannot read the disc: {'; '.join(self.messages) or 'no disc?'}"
        if self.wrong_disc:
            return f"this is disc {self.found_volid}, not {self.volid}"
        parts = []
        if self.mismatched:
            names = ", ".join(os.fsdecode(p) for p in self.mismatched[:limit])
            more = f" and {len(self.mismatched) - limit} more" if len(self.mismatched) > limit else ""
            parts.append(f"{len(self.mismatched)} files differ: {names}{more}")
        if self.missing:
            names = ", ".join(os.fsdecode(p) for p in self.missing[:limit])
            parts.append(f"{len(self.missing)} files missing: {names}")
        parts += self.messages
        return f"{self.volid}: verification failed: " + "; ".join(parts)


def read_volid(indev: str, cancel) -> tuple[str | None, str]:
    exe = proc.which("xorriso")
    done = proc.run(xorriso.volid_argv(exe, indev), capture=True, cancel=cancel, timeout=600)
    lines = [x.decode("utf-8", "replace") for x in proc.split_records(done.stdout)]
    found = xorriso.parse_volid(lines) if done.ok else None
    return found, "; ".join(xorriso.payload(x)[1] for x in lines if "FAILURE" in x or "SORRY" in x)[-300:]


def verify_disc(drive: str, volid: str, rows: list[Row], scratch: Path, *, emit: Emit, cancel) -> VerifyResult:
    res = VerifyResult(volid=volid)
    indev = xorriso.device_of(drive, volid)
    if xorriso.is_image_drive(drive) and not Path(xorriso.image_path(drive, volid)).exists():
        res.messages.append(f"{xorriso.image_path(drive, volid)} does not exist")
        return res
    res.found_volid, why = read_volid(indev, cancel)
    if res.found_volid is None:
        if why:
            res.messages.append(why)
        return res
    if res.wrong_disc:
        return res
    exe = proc.which("xorriso")
    emit(Event(LOG, f"{volid}: reading every block and checking MD5 sums"))
    lines: list[str] = []
    done = proc.run(xorriso.check_argv(exe, indev, volid),
                    on_stdout=lambda b: lines.append(b.decode("utf-8", "surrogateescape")), cancel=cancel)
    check = xorriso.parse_check(lines, done.returncode)
    res.mismatched += [p.lstrip(b"/") for p in check.mismatched]
    res.messages += [f"unreadable blocks {a}..{a + n - 1} ({q})" for a, n, q in check.bad_regions]
    res.messages += check.messages
    if scratch.exists():
        _rmtree(scratch)
    scratch.mkdir(parents=True)
    need = sum(r.size for r in rows) + (64 << 20)
    free = shutil.disk_usage(scratch).free
    if free < need:
        emit(Event(WARNING, f"{volid}: {free / 1e9:.1f} GB free in {scratch.parent}, {need / 1e9:.1f} GB needed to read"
                            f" the disc back; relying on xorriso's MD5 check of every file"))
        _rmtree(scratch)
        res.ok = check.ok and not res.mismatched and not res.messages
        return res
    emit(Event(LOG, f"{volid}: reading every file back and comparing it with the catalog"))
    try:
        with shortpath.alias(scratch) as short:   # the disc's deepest paths fit below it
            disc_root = os.path.join(short, b"d")   # a new directory: xorriso never replaces the link itself
            done = proc.run(xorriso.extract_argv(exe, indev, volid, os.fsdecode(disc_root)), cancel=cancel)
            if not done.ok:
                res.messages.append(f"extracting the disc failed (exit {done.returncode}): {done.stderr_text()[-200:]}")
            _compare(rows, disc_root, res, emit, cancel)
            if not os.path.isfile(os.path.join(disc_root, b"README.txt")):
                res.missing.append(b"README.txt")
            if not any(os.path.isfile(os.path.join(disc_root, name)) for name in layout.CATALOG_NAMES):
                res.missing.append(layout.CATALOG_NAMES[0])
    finally:
        _rmtree(scratch)
    seen = set()
    res.mismatched = [p for p in res.mismatched if not (p in seen or seen.add(p))]
    res.ok = not (res.mismatched or res.missing or res.messages) and check.ok
    if not check.ok and not (res.mismatched or res.messages):
        res.messages.append("xorriso reported a problem with the disc")
    return res


def _compare(rows: list[Row], base: bytes, res: VerifyResult, emit: Emit, cancel) -> None:
    total = sum(r.size for r in rows if r.sha256 not in MARKS)
    done = 0
    for r in rows:
        path = os.path.join(base, r.disc_path)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            res.missing.append(r.disc_path)
            continue
        if r.sha256 == DIR_MARK:
            if not stat.S_ISDIR(st.st_mode):
                res.mismatched.append(r.disc_path)
            continue
        if r.sha256 == LINK_MARK:
            if not stat.S_ISLNK(st.st_mode):
                res.mismatched.append(r.disc_path)
            continue
        if r.sha256 == SPECIAL_MARK:
            if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
                res.mismatched.append(r.disc_path)
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_size != r.size:
            res.mismatched.append(r.disc_path)
            continue
        if not st.st_mode & stat.S_IRUSR:
            os.chmod(path, st.st_mode | stat.S_IRUSR)
        if content.sha256_file(path, cancel) != r.sha256:
            res.mismatched.append(r.disc_path)
        done += r.size
        emit(Event(PROGRESS, data={"done_bytes": done, "total_bytes": total,
                                   "percent": 100.0 * done / total if total else 100.0,
                                   "current": os.fsdecode(r.disc_path)}))


def _rmtree(path: Path) -> None:
    def fix(func, p, exc):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
        except OSError:
            pass
        func(p)

    if path.exists():
        shutil.rmtree(path, onerror=fix)
