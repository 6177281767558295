"""A file that gives an I/O error partway through its read on the source (a bad sector, an NFS
hiccup): rsync (3.5.0) zero-fills the rest, says `read errors mapping`, sends a checksum that
cannot match, and the receiver itemizes the file anyway, discards it ("failed verification --
update discarded (will try again)") and asks for it again; when that read fails too it discards it
for good ("ERROR: ... update discarded.", exit 23). Such a file is not on the medium: the backup
records it as unreadable, as one rsync could not open, and the catalog holds no version of it in
that backup. A file whose second read succeeds is whole, and recorded once.

Real rsync over the test sshd; the read error is made in the source's rsync by a small library
preloaded there through the source's rsync_path (no device-mapper to make a real bad sector)."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timedelta

import pytest

from rabtui.cli import main
from rabtui.media import medium_layout
from tests import preloaded_library
from tests.trees import Lab, ssh_source_lines, write_files

T0 = datetime(2026, 8, 1, 3, 0)
SIZE = 600_000      # more than one read of rsync's sender (256 KiB): the error comes partway

# Files whose name holds $EIO_ALWAYS (every open) or $EIO_ONCE (only the first open of one in the
# process) give their first read() and fail every later one with EIO. With $GROW_ONCE, that first
# open of the $EIO_ONCE file appends as many bytes to it first: it changed size since rsync listed it.
SHIM = r'''
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static char marked[4096];
static int once_done;

static int holds(const char *path, const char *var) {
    const char *marker = getenv(var);
    return marker && *marker && strstr(path, marker);
}

static void grow(int fd) {
    const char *n = getenv("GROW_ONCE");
    char proc[64], buf[4096];
    long left = n ? atol(n) : 0;
    if (left <= 0) return;
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    int g = syscall(SYS_openat, AT_FDCWD, proc, O_WRONLY | O_APPEND);
    if (g < 0) return;
    memset(buf, 'G', sizeof buf);
    while (left > 0) {
        ssize_t w = write(g, buf, left < (long)sizeof buf ? left : (long)sizeof buf);
        if (w <= 0) break;
        left -= w;
    }
    syscall(SYS_close, g);
}

static void mark(int fd, const char *path) {
    if (fd < 0 || fd >= (int)sizeof marked || !path) return;
    marked[fd] = 0;
    if (holds(path, "EIO_ALWAYS")) marked[fd] = 1;
    else if (!once_done && holds(path, "EIO_ONCE")) { once_done = 1; marked[fd] = 1; grow(fd); }
}

#define OPENER(NAME, ...) \
int NAME(__VA_ARGS__, int flags, ...) { \
    static int (*real)(); \
    mode_t mode = 0; \
    if (flags & (O_CREAT | O_TMPFILE)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, int); va_end(ap); } \
    if (!real) real = (int (*)())dlsym(RTLD_NEXT, #NAME);

OPENER(open, const char *path) int fd = real(path, flags, mode); mark(fd, path); return fd; }
OPENER(open64, const char *path) int fd = real(path, flags, mode); mark(fd, path); return fd; }
OPENER(openat, int dirfd, const char *path) int fd = real(dirfd, path, flags, mode); mark(fd, path); return fd; }
OPENER(openat64, int dirfd, const char *path) int fd = real(dirfd, path, flags, mode); mark(fd, path); return fd; }

ssize_t read(int fd, void *buf, size_t count) {
    static ssize_t (*real)(int, void *, size_t);
    if (!real) real = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
    if (fd >= 0 && fd < (int)sizeof marked && marked[fd]) {
        if (marked[fd] == 2) { errno = EIO; return -1; }
        marked[fd] = 2;
    }
    return real(fd, buf, count);
}

int close(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "close");
    if (fd >= 0 && fd < (int)sizeof marked) marked[fd] = 0;
    return real(fd);
}
'''


@pytest.fixture(scope="session")
def read_error_shim(tmp_path_factory):
    """The preloaded library that makes the read errors, built once."""
    return preloaded_library.built(tmp_path_factory, "eio", SHIM, "makes read errors in the source's rsync")


def _bytes(seed: int, size: int = SIZE) -> bytes:
    return bytes((i * seed + i // 251) & 0xFF for i in range(size))


@pytest.fixture(scope="module")
def history(tmp_path_factory, sshd, read_error_shim):
    """Three backups of a standard and an archive directory: the source's first, where `once-flaky`
    fails at its first read only (the catalog knows no path yet: see CatalogSpool._first); then
    `eio-disk` (changed), `eio-new` and `eio-arch` (new) fail at every read and `once-flaky`
    (changed) at its first only; then all read again."""
    base = tmp_path_factory.mktemp("readerr")
    lab = Lab(base, media_count=1)
    lab.trust(sshd)
    data = lab.src / "data"
    write_files(data, {"keep": b"k", "eio-disk": _bytes(3), "once-flaky": _bytes(5)})
    arch = lab.src / "arch"
    write_files(arch, {"old": b"o"})
    dirs = f'[[sources.directories]]\npath = "{data}"\n[[sources.directories]]\npath = "{arch}"\nkind = "archive"\n'
    plain = ssh_source_lines(sshd) + dirs
    preload = f'rsync_path = "env LD_PRELOAD={read_error_shim}'
    cfg = lab.write(ssh_source_lines(sshd) + f'{preload} EIO_ONCE=once- rsync"\n' + dirs)
    first = lab.backup(cfg, "web", now=T0)
    # read whole on rsync's second try: its exit 23 said no more than that
    assert first.status == "completed", first.reason
    assert f"{data}: 1 file read with an error on the source the first time, whole the second (rsync's exit 23" \
           " for it): once-flaky" in lab.messages()
    write_files(data, {"eio-disk": _bytes(7, SIZE + 1), "once-flaky": _bytes(11, SIZE + 2), "eio-new": _bytes(13)})
    write_files(arch, {"eio-arch": _bytes(17)})
    failing = lab.write(ssh_source_lines(sshd) + f'{preload} EIO_ALWAYS=eio- EIO_ONCE=once- rsync"\n' + dirs)
    lab.events.clear()
    second = lab.backup(failing, "web", now=T0 + timedelta(days=1))
    said = lab.messages()
    said.append(f"union: {sorted(os.listdir(medium_layout.archive_root(lab.media[0][1], 'web', str(arch))))}")
    cfg = lab.write(plain)
    third = lab.backup(cfg, "web", now=T0 + timedelta(days=2))
    assert third.status == "completed", third.reason
    yield lab, (data, arch), (first, second, third), said


def _cli(lab, capsys, *args, code=0) -> str:
    assert main(["--config", str(lab.config_path), *args]) == code
    return capsys.readouterr().out


def test_rsync_discards_the_file_it_could_not_read_whole(history):
    lab, (data, arch), (_, second, _), said = history
    assert second.status == "warnings", second.reason
    lines = "\n".join(said)
    assert f'read errors mapping "{data}/eio-disk": Input/output error (5)' in lines
    assert "WARNING: once-flaky failed verification -- update discarded (will try again)." in lines
    assert "ERROR: eio-disk failed verification -- update discarded." in lines
    assert "ERROR: eio-new failed verification -- update discarded." in lines
    assert "rsync exit 23" in lines
    assert ("2 files could not be read whole on the source (a read error there), not in this backup:"
            " eio-disk, eio-new; older backups keep them") in second.reason
    held = second.path / "data" / str(data).lstrip("/")
    assert sorted(os.listdir(held)) == ["keep", "once-flaky"]
    assert (held / "once-flaky").read_bytes() == _bytes(11, SIZE + 2)
    # an archive directory's new file that could not be read: in neither the backup nor the union
    assert os.listdir(second.path / "data" / str(arch).lstrip("/")) == []
    assert said[-1] == "union: ['old']"


def test_the_catalog_holds_what_the_medium_holds(history):
    lab, (data, arch), (first, second, third), _ = history
    store = lab.store()
    # the source's first backup read once-flaky twice: one version of it, counted once
    rows = store.all("SELECT p.path, v.size FROM versions v JOIN paths p ON p.id=v.path_id WHERE v.first_backup=?",
                     (first.backup_id,))
    assert sorted((bytes(r["path"]).rsplit(b"/", 1)[1], r["size"]) for r in rows) == [
        (b"eio-disk", SIZE), (b"keep", 1), (b"old", 1), (b"once-flaky", SIZE)]
    d, _ = json.loads((first.path / "backup.json").read_text())["directories"]
    assert (d["files"], d["new_files"], d["total_bytes"], d["unreadable"]) == (3, 3, 2 * SIZE + 1, [])
    assert (d["rsync_exit"], d["state"], d["message"]) == (23, "ok", None)
    assert (first.path / "data" / str(data).lstrip("/") / "once-flaky").read_bytes() == _bytes(5)
    rows = store.all("SELECT p.path, v.size, v.first_backup, v.last_backup FROM versions v JOIN paths p ON p.id=v.path_id"
                     " WHERE ? BETWEEN v.first_backup AND v.last_backup", (second.backup_id,))
    rel, arch_rel = str(data).lstrip("/").encode(), str(arch).lstrip("/").encode()
    assert sorted((bytes(r["path"]), r["size"], r["first_backup"]) for r in rows) == [
        (rel + b"/keep", 1, first.backup_id), (rel + b"/once-flaky", SIZE + 2, second.backup_id)]
    assert [r["first_backup"] for r in store.all("SELECT first_backup FROM versions v JOIN paths p ON p.id=v.path_id"
                                                 " WHERE p.path=?", (arch_rel + b"/eio-arch",))] == [third.backup_id]
    d, a = json.loads((second.path / "backup.json").read_text())["directories"]
    assert (d["files"], d["total_bytes"], d["new_files"], d["changed_files"], d["source_files"]) == (2, 1 + SIZE + 2, 0, 1, 2)
    assert d["unreadable"] == ["eio-disk", "eio-new"] and d["unreadable_unnamed"] == 0
    assert (a["files"], a["new_bytes"], a["unreadable"]) == (0, 0, ["eio-arch"])
    assert sorted(tuple(r) for r in store.all("SELECT path, unreadable FROM backup_dirs WHERE backup_id=?",
                                              (second.backup_id,))) == [(str(arch), 1), (str(data), 2)]


def test_diff_and_find_say_unreadable(history, capsys):
    lab, (data, arch), (first, second, third), _ = history
    text = _cli(lab, capsys, "diff", "web", first.path.name, second.path.name)
    assert text.replace(str(data), "D").replace(str(arch), "A").splitlines()[1:] == [
        "~ D/once-flaky  585.9 KiB -> 585.9 KiB", "! A/eio-arch  unreadable", "! D/eio-disk  unreadable (585.9 KiB before)",
        "! D/eio-new  unreadable", "0 added (0 B), 0 removed (0 B), 1 changed, 3 unreadable"]
    text = _cli(lab, capsys, "diff", "web", second.path.name, third.path.name)
    assert text.replace(str(data), "D").replace(str(arch), "A").splitlines()[1:] == [
        "* A/eio-arch  readable again (585.9 KiB)", "* D/eio-disk  readable again (585.9 KiB)",
        "* D/eio-new  readable again (585.9 KiB)", "0 added (0 B), 0 removed (0 B), 0 changed, 3 readable again"]
    text = _cli(lab, capsys, "find", "eio-disk")
    assert f"m1: {first.path.name}; then unreadable on the source in {second.path.name} (not deleted)" in text
    # the version the third backup read is the only one of the file in a backup after the first
    [v] = [v for v in json.loads(_cli(lab, capsys, "find", "eio-disk", "--json")) if v["size"] == SIZE + 1]
    assert [loc["backups"] for loc in v["locations"]] == [[third.path.name]]


def test_a_hard_link_group_whose_first_name_could_not_be_read(tmp_path, sshd, read_error_shim):
    """-H sends a group of hard links once, through its first name, and links the other names to it:
    when that name is discarded for good rsync sends the group through the next name (which links
    the names after it). Names that failed are neither on the medium nor in the catalog; a name the
    retry read is, with the names linked to it."""
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    data = lab.src / "data"
    write_files(data, {"keep": b"k", "all-eio-1": _bytes(3), "first-z-eio-": _bytes(5)})
    os.link(data / "all-eio-1", data / "all-eio-2")          # every name unreadable (a bad sector)
    os.link(data / "first-z-eio-", data / "first-ok-1")       # only the name sent first (the last) fails
    os.link(data / "first-z-eio-", data / "first-ok-2")
    cfg = lab.write(ssh_source_lines(sshd) + f'rsync_path = "env LD_PRELOAD={read_error_shim} EIO_ALWAYS=eio- rsync"\n'
                    f'[[sources.directories]]\npath = "{data}"\n')
    done = lab.backup(cfg, "web", now=T0)
    assert done.status == "warnings", done.reason
    held = done.path / "data" / str(data).lstrip("/")
    on_medium = sorted(os.listdir(held))
    rel = str(data).lstrip("/").encode()
    rows = lab.store().all("SELECT p.path, v.size FROM versions v JOIN paths p ON p.id=v.path_id"
                           " WHERE ? BETWEEN v.first_backup AND v.last_backup", (done.backup_id,))
    assert sorted(bytes(r["path"])[len(rel) + 1:].decode() for r in rows) == on_medium
    assert on_medium == ["first-ok-1", "first-ok-2", "keep"]
    [d] = json.loads((done.path / "backup.json").read_text())["directories"]
    assert sorted(d["unreadable"]) == ["all-eio-1", "all-eio-2", "first-z-eio-"]
    assert d["files"] == len(on_medium)


def test_a_hard_link_group_read_whole_on_the_second_try_completes(tmp_path, sshd, read_error_shim):
    """-H: the name a group is sent through read with an error once, whole on rsync's second try:
    the backup completes with every name of the group one file on the medium, as read the second time."""
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    data = lab.src / "data"
    write_files(data, {"keep": b"k", "first-z-once-": _bytes(5)})
    for name in ("first-ok-1", "first-ok-2"):
        os.link(data / "first-z-once-", data / name)
    cfg = lab.write(ssh_source_lines(sshd) + f'rsync_path = "env LD_PRELOAD={read_error_shim} EIO_ONCE=once- rsync"\n'
                    f'[[sources.directories]]\npath = "{data}"\n')
    done = lab.backup(cfg, "web", now=T0)
    assert done.status == "completed", done.reason
    assert "WARNING: first-z-once- failed verification -- update discarded (will try again)." in "\n".join(lab.messages())
    held = done.path / "data" / str(data).lstrip("/")
    group = [os.lstat(held / n) for n in ("first-ok-1", "first-ok-2", "first-z-once-")]
    assert {(st.st_ino, st.st_nlink) for st in group} == {(group[0].st_ino, 3)}
    assert (held / "first-ok-1").read_bytes() == _bytes(5)
    [d] = json.loads((done.path / "backup.json").read_text())["directories"]
    assert (d["state"], d["rsync_exit"], d["files"], d["unreadable"]) == ("ok", 23, 4, [])


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv to close a file")
def test_a_file_read_on_the_second_try_does_not_hide_another_error(tmp_path, sshd, read_error_shim):
    """A file read whole on rsync's second try beside one rsync could not open: the directory still
    warns, for the file it could not open, and that one only is not in the backup."""
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    data = lab.src / "data"
    write_files(data, {"once-flaky": _bytes(5), "closed": b"c"})
    os.chmod(data / "closed", 0)
    cfg = lab.write(ssh_source_lines(sshd) + f'rsync_path = "env LD_PRELOAD={read_error_shim} EIO_ONCE=once-'
                    f' setpriv --bounding-set=-dac_override,-dac_read_search rsync"\n'
                    f'[[sources.directories]]\npath = "{data}"\n')
    done = lab.backup(cfg, "web", now=T0)
    assert done.status == "warnings" and 'send_files failed to open' in done.reason, done.reason
    [d] = json.loads((done.path / "backup.json").read_text())["directories"]
    assert (d["state"], d["unreadable"], d["files"]) == ("warning", ["closed"], 1)
    assert (done.path / "data" / str(data).lstrip("/") / "once-flaky").read_bytes() == _bytes(5)


def test_a_name_rsync_escapes_read_on_the_second_try_completes(tmp_path, sshd, read_error_shim):
    """rsync escapes the name in each of its lines (\\#ooo): a non-UTF-8 name with a newline, and one
    that reads like the end of rsync's line, each read whole on the second try, are matched."""
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    data = lab.src / "data"
    names = [b"once-\xff\nx", b'once-"q": Permission denied (13)']
    write_files(data, {names[0]: _bytes(3)})
    cfg = lab.write(ssh_source_lines(sshd) + f'rsync_path = "env LD_PRELOAD={read_error_shim} EIO_ONCE=once- rsync"\n'
                    f'[[sources.directories]]\npath = "{data}"\n')
    for n, name in enumerate(names):
        if n:
            os.rename(os.path.join(os.fsencode(data), names[0]), os.path.join(os.fsencode(data), name))
            write_files(data, {name: _bytes(7)})
        done = lab.backup(cfg, "web", now=T0 + timedelta(days=n))
        assert done.status == "completed", done.reason
        held = os.path.join(os.fsencode(done.path / "data" / str(data).lstrip("/")), name)
        assert open(held, "rb").read() == _bytes(7 if n else 3)


def test_a_file_read_whole_on_the_second_try_that_changed_size_is_not_left_out(tmp_path, sshd, read_error_shim):
    """A file that grew since rsync listed it, read with an error the first time and whole the
    second: the medium holds it as read the second time, and the backup warns for the size only;
    `check` does not say the run left files out (its rsync 23 said no more than the retry)."""
    from rabtui.ops import health
    from rabtui.rebuild import scan
    from rabtui.state.store import Store

    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    data = lab.src / "data"
    write_files(data, {"keep": b"k", "once-grows": _bytes(5)})
    cfg = lab.write(ssh_source_lines(sshd) + f'rsync_path = "env LD_PRELOAD={read_error_shim} EIO_ONCE=once-'
                    f' GROW_ONCE=5000 rsync"\n[[sources.directories]]\npath = "{data}"\n')
    done = lab.backup(cfg, "web", now=T0)
    assert done.status == "warnings", done.reason
    assert "1 file changed size while rsync read them, saved as read: once-grows" in done.reason, done.reason
    assert "WARNING: once-grows failed verification -- update discarded (will try again)." in "\n".join(lab.messages())
    held = done.path / "data" / str(data).lstrip("/") / "once-grows"
    assert held.read_bytes() == (data / "once-grows").read_bytes() and held.stat().st_size == SIZE + 5000
    [d] = json.loads((done.path / "backup.json").read_text())["directories"]
    assert (d["rsync_exit"], d["unreadable"], d["files"]) == (23, [], 2)
    assert "partial:web" not in {p.check_id for p in health.run_checks(cfg, lab.store())}
    # the same said by a database rebuilt from the medium
    lab.lose_database()
    scan.rebuild(cfg, Store(lab.state))
    assert "partial:web" not in {p.check_id for p in health.run_checks(cfg, lab.store())}


def test_a_directory_read_whole_on_the_second_try_is_no_file_left_out(tmp_path):
    """`check`'s "left files out" looks at the directories of a backup with warnings: one whose
    rsync 23 was only a file read whole on the second try (state ok) left nothing out; another that
    warned only for files that vanished (24) neither."""
    from rabtui.config import Directory, Source
    from rabtui.ops import health
    from rabtui.state.store import Store

    store = Store(tmp_path / "state")
    store.execute("INSERT INTO backups(id, source, medium, name, path, status, started) VALUES"
                  " (1, 'web', 'm1', 'backup-1', '/m1/web/backup-1', 'warnings', 0)")
    store.execute("INSERT INTO backup_dirs(backup_id, path, kind, state, rsync_exit, files) VALUES"
                  " (1, '/a', 'standard', 'ok', 23, 3), (1, '/b', 'standard', 'warning', 24, 2)")
    source = Source(id="web", directories=[Directory(path="/a"), Directory(path="/b")])
    assert not health._left_files_out(store, source, dict(store.one("SELECT * FROM backups WHERE id=1")))
    store.execute("UPDATE backup_dirs SET state='warning' WHERE path='/a'")
    assert health._left_files_out(store, source, dict(store.one("SELECT * FROM backups WHERE id=1")))
