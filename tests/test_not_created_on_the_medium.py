"""A file rsync's receiver could not create on the medium (a name vfat or exFAT cannot hold: EINVAL
for `a:b`): rsync says so and ends with exit 23, and its sender names the file as sent all the same.
The catalog recorded it as held, so a checkpoint of a standard directory was refused for a file
"not on the medium any more" after each backup (each fails to make it again: no backup ever let the
checkpoint through), and a restore named it as lost. Now it is taken out of the backup's rows and
sizes and named as not read (older backups keep it): the plan goes through. Real rsync, run with a
preloaded library that makes the receiver's create of the file fail as vfat's does (no vfat here)."""

from __future__ import annotations

import json
import os
from datetime import datetime

import pytest

from rabtui.checkpoint import layout, not_read, prepare
from rabtui.cli import main
from rabtui.state import backup_diff
from rabtui.tui import tree
from tests import preloaded_library
from tests.trees import Lab, write_files

T0 = datetime(2026, 7, 1, 3, 0)
SHIM = r'''
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int refused(const char *path, int flags) {
    const char *marker = getenv("CREATE_FAILS");
    return (flags & O_CREAT) && marker && *marker && path && strstr(path, marker);
}

#define OPENER(NAME, CALL, ...) \
int NAME(__VA_ARGS__, int flags, ...) { \
    static int (*real)(); \
    mode_t mode = 0; \
    if (flags & (O_CREAT | O_TMPFILE)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, int); va_end(ap); } \
    if (!real) real = (int (*)())dlsym(RTLD_NEXT, #NAME); \
    if (refused(path, flags)) { errno = EINVAL; return -1; } \
    return CALL; }

OPENER(open, real(path, flags, mode), const char *path)
OPENER(open64, real(path, flags, mode), const char *path)
OPENER(openat, real(dirfd, path, flags, mode), int dirfd, const char *path)
OPENER(openat64, real(dirfd, path, flags, mode), int dirfd, const char *path)
'''


@pytest.fixture(scope="session")
def create_fails(tmp_path_factory):
    """The preloaded library that fails the create of a file whose path holds $CREATE_FAILS."""
    return preloaded_library.built(tmp_path_factory, "create_fails", SHIM, "fails a create on the medium")


def _backed_up(tmp_path, create_fails, kind: str = "standard"):
    """A backup of a directory holding sub/a:b, which the medium could not take: (lab, data, cfg, made)."""
    lab = Lab(tmp_path, media_count=1)
    data = lab.src / "data"
    write_files(data, {"ok": b"ok", "sub/a:b": b"colon" * 10})
    cfg = lab.write(f'[[sources]]\nid = "loc"\nrsync_path = "env LD_PRELOAD={create_fails} CREATE_FAILS=a:b rsync"\n'
                    f'[[sources.directories]]\npath = "{data}"\nkind = "{kind}"\n'
                    f'[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\n')
    return lab, data, cfg, lab.backup(cfg, now=T0)


@pytest.mark.parametrize("kind", ["standard", "archive"])
def test_a_file_the_medium_could_not_take_is_not_in_the_catalog_and_the_checkpoint_goes_through(
        tmp_path, create_fails, kind):
    lab, data, cfg, made = _backed_up(tmp_path, create_fails, kind)
    assert made.status == "warnings", made.reason
    assert "1 file rsync could not write on the medium (see its error above), not in this backup: sub/a:b;" \
           " older backups keep them" in made.reason
    store = lab.store()
    assert sorted(bytes(r["path"]).rsplit(b"/", 1)[1] for r in store.all(
        "SELECT p.path FROM versions v JOIN paths p ON p.id=v.path_id")) == [b"ok"]
    assert store.one("SELECT files FROM backup_dirs")["files"] == 1
    prepare.compute(cfg, store, asked={"*"})     # not refused for a file the medium never held
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(tmp_path / "back")]) == 0
    assert (tmp_path / "back" / str(data).lstrip("/") / "ok").read_bytes() == b"ok"


TIMES_SHIM = r'''
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

static int refused(const char *path) {
    const char *marker = getenv("TIMES_FAIL");
    return marker && *marker && path && strstr(path, marker);
}

#define SETTER(NAME, ...) \
int NAME(__VA_ARGS__) { \
    static int (*real)(); \
    if (!real) real = (int (*)())dlsym(RTLD_NEXT, #NAME); \
    if (refused(path)) { errno = EPERM; return -1; } \
    return real CALL_##NAME; }

#define CALL_utimensat (dirfd, path, t, flags)
#define CALL_utimes (path, t)
#define CALL_lutimes (path, t)
SETTER(utimensat, int dirfd, const char *path, const struct timespec t[2], int flags)
SETTER(utimes, const char *path, const struct timeval t[2])
SETTER(lutimes, const char *path, const struct timeval t[2])
'''


@pytest.fixture(scope="session")
def times_fail(tmp_path_factory):
    """The preloaded library that fails the setting of the times of a path holding $TIMES_FAIL."""
    return preloaded_library.built(tmp_path_factory, "times_fail", TIMES_SHIM, "fails setting times on the medium")


@pytest.mark.parametrize("kind", ["standard", "archive"])
def test_a_file_whose_time_the_medium_did_not_take_is_recorded_at_the_time_it_holds(tmp_path, times_fail, kind):
    """rsync's receiver could not set a file's time on the medium (EPERM: "failed to set times",
    exit 23): the medium holds it at the time it was written. The catalog recorded the source's, so
    the plan refused the directory for a file "written into" at every backup (each fails to set it
    again) and a restore left it out (exit 3). It is recorded at the time the medium holds."""
    lab = Lab(tmp_path, media_count=1)
    data = lab.src / "data"
    write_files(data, {"ok": b"ok", "sub/t-bad": b"stamp" * 10})
    for name in ("ok", "sub/t-bad"):
        os.utime(data / name, (1_577_836_800, 1_577_836_800))     # 2020-01-01
    cfg = lab.write(f'[[sources]]\nid = "loc"\nrsync_path = "env LD_PRELOAD={times_fail} TIMES_FAIL=t-bad rsync"\n'
                    f'[[sources.directories]]\npath = "{data}"\nkind = "{kind}"\n'
                    f'[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\n')
    made = lab.backup(cfg, now=T0)
    assert made.status == "warnings" and "failed to set times" in made.reason, made.reason
    held = os.stat(next(made.path.rglob("t-bad")))
    assert held.st_mtime > 1_577_836_800
    store = lab.store()
    prepare.compute(cfg, store, asked={"*"})     # not refused for a file written into
    back = tmp_path / "back"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(back)]) == 0
    assert (back / str(data).lstrip("/") / "sub" / "t-bad").read_bytes() == b"stamp" * 10
    assert sorted((bytes(r["path"]).rsplit(b"/", 1)[1], r["mtime"]) for r in store.all(
        "SELECT p.path, v.mtime FROM versions v JOIN paths p ON p.id=v.path_id")) == [
        (b"ok", 1_577_836_800), (b"t-bad", held.st_mtime_ns // 10**9)]


def test_the_plan_says_the_medium_could_not_hold_the_file_not_that_the_source_could_not_be_read(
        tmp_path, create_fails, capsys):
    """The backup names the file as one rsync could not write on the medium; the plan, its warning
    and the disc's README.txt said "could not read 1 path on the source". `unreadable.unmade` keeps
    which side failed, through rebuild-state too."""
    lab, _data, cfg, made = _backed_up(tmp_path, create_fails)
    assert made.status == "warnings", made.reason
    conf = ["--config", str(lab.config_path)]
    for rebuilt in (False, True):
        if rebuilt:
            lab.lose_database()
            assert main([*conf, "rebuild-state"]) in (0, 3)
            capsys.readouterr()
        assert main([*conf, "checkpoint", "plan"]) == 0
        said = capsys.readouterr()
        assert ("could not write 1 file on the medium (read on the source, refused by the medium's file system),"
                " not on the discs: sub/a:b") in said.out, said.out
        assert "could not read" not in said.out + said.err, said.out + said.err
        assert f"backup {made.path.name} could not write 1 file on the medium" in said.err, said.err
    d = prepare.compute(cfg, lab.store(), asked={"*"}).data[0]
    readme = "\n".join(layout.unread_lines({**not_read.plan_fields(d), "kind": "standard"}))
    assert "1 file its backup read on the source and could not write on the medium" in readme and "sub/a:b" in readme
    assert "could not read" not in readme


def test_diff_says_the_medium_could_not_hold_the_file(tmp_path, create_fails, capsys):
    """`diff` to the backup that could not write the file on the medium said it "unreadable"."""
    lab, data, cfg, _made = _backed_up(tmp_path, create_fails)
    (data / "new").write_bytes(b"n")
    assert lab.backup(cfg, now=T0.replace(day=2)).status == "warnings"
    conf = ["--config", str(lab.config_path)]
    assert main([*conf, "diff", "loc"]) == 0
    out = capsys.readouterr().out
    assert f"! {data}/sub/a:b  not written on the medium (its file system refused it)" in out, out
    assert "1 not written on the medium" in out and "unreadable" not in out, out
    assert main([*conf, "diff", "loc", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unreadable"] == [{"path": f"{data}/sub/a:b", "size": None, "unmade": True}]
    store = lab.store()     # Browse's table of the diff
    first, second = (dict(r) for r in store.all("SELECT * FROM backups ORDER BY id"))
    top = os.fsencode(str(data)).lstrip(b"/")
    assert [(c.path, c.what) for c in tree.changes_below(backup_diff.diff(store, first, second), top)[0]] == [
        (b"new", "added"), (b"sub/a:b", tree.NOT_WRITTEN)]
