"""`restore --overwrite` where the target holds another kind of entry than the backup: a file, a
directory, a symlink, a FIFO or a hard-linked file of the backup, and there a file, an empty
directory, a directory holding files, a symlink, a FIFO or a file linked elsewhere. A local source
(`--to-source`), `--to DIR` and a source over SSH (real rsync, the test sshd) agree: what is in
the way is replaced, but for a directory holding files (the backup may not have them), kept and
named as not restored (exit 3), and a symlink on a source (never followed nor replaced there:
refused, named, the rest restored). One backup per kind of source, shared by the module's tests."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from datetime import datetime

import pytest

from rabtui.cli import main
from tests.trees import Lab, ssh_source_lines

T0 = datetime(2026, 6, 1, 3, 0)
SAVED = ("file", "dir", "symlink", "fifo", "linked")
THERE = ("file", "emptydir", "fulldir", "symlink", "fifo", "linked")
PAIRS = [(b, t) for b in SAVED for t in THERE if b != t and not (b == "dir" and t.endswith("dir"))]
KIND = {"file": "file", "dir": "directory", "symlink": "symlink", "fifo": "fifo", "linked": "file"}


def _lab(base, mode: str, sshd) -> tuple[Lab, "os.PathLike", str]:
    """A lab of one medium and one standard directory, local ("loc") or over the test sshd ("web",
    at base/remote): (lab, the directory, the source's id)."""
    lab = Lab(base, media_count=1)
    if mode != "ssh":
        lab.local()
        return lab, lab.src / "data", "loc"
    d = base / "remote"
    lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{d}"\nkind = "standard"\n')
    lab.trust(sshd)
    return lab, d, "web"


def _make(d: str, kind: str, name: str, elsewhere: str | None, who: bytes) -> None:
    p = os.path.join(d, name)
    if kind in ("file", "linked"):
        with open(p, "wb") as f:
            f.write(who)
        if kind == "linked":    # in the backup, a second name beside it; on the target, one elsewhere
            os.link(p, p + ".twin" if elsewhere is None else os.path.join(elsewhere, name))
    elif kind == "dir":
        os.mkdir(p)
        with open(os.path.join(p, "inner"), "wb") as f:
            f.write(who)
    elif kind == "emptydir":
        os.mkdir(p)
    elif kind == "fulldir":
        os.mkdir(p)
        with open(os.path.join(p, "theirs"), "wb") as f:
            f.write(b"theirs")
    elif kind == "symlink":
        os.symlink(who + b"-target", p)
    else:
        os.mkfifo(p)


def _plant(d: str, elsewhere: str, pairs=PAIRS) -> None:
    """The entries of `pairs` at `d` made the kind the target holds (the backup's twins stay)."""
    for b, t in pairs:
        p = os.path.join(d, f"{b}-{t}")
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        elif os.path.lexists(p):
            os.unlink(p)
        _make(d, t, f"{b}-{t}", elsewhere, b"target")


def _shape(p: str) -> tuple:
    if not os.path.lexists(p):
        return ("missing",)
    st = os.lstat(p)
    if stat.S_ISLNK(st.st_mode):
        return ("symlink", os.readlink(p))
    if stat.S_ISFIFO(st.st_mode):
        return ("fifo",)
    if stat.S_ISDIR(st.st_mode):
        return ("dir", tuple(sorted(os.listdir(p))))
    with open(p, "rb") as f:
        return ("file", f.read())


SAVED_SHAPE = {"file": ("file", b"backup"), "dir": ("dir", ("inner",)), "symlink": ("symlink", "backup-target"),
               "fifo": ("fifo",), "linked": ("file", b"backup")}


class _Setup:
    def __init__(self, base, sshd):
        self.base = base
        self.sources = {}
        self.runs = 0
        for kind in ("local", "ssh"):
            (base / kind).mkdir()
            lab, d, sid = _lab(base / kind, kind, sshd)
            d.mkdir(exist_ok=True)
            for b, t in PAIRS:
                _make(str(d), b, f"{b}-{t}", None, b"backup")
            assert lab.backup(lab.load(), sid, now=T0).status == "completed"
            self.sources[kind] = (lab, sid, d)

    def restore(self, mode: str, what: str = "", pairs=PAIRS, overwrite: bool = True) -> tuple[int, str, str]:
        """(exit code, its --json, the target's directory of the backup's `d`, the directory
        holding the other names of its linked files) after planting `pairs` there."""
        lab, sid, d = self.sources["ssh" if mode == "ssh" else "local"]
        self.runs += 1
        elsewhere = self.base / f"elsewhere-{self.runs}"
        elsewhere.mkdir()
        if mode == "to":
            to = self.base / f"to-{self.runs}"
            there = str(to) + str(d)
            os.makedirs(os.path.dirname(there))
            subprocess.run(["cp", "-a", "--", str(d), there], check=True)
            args = ["--to", str(to)]
        else:
            there, args = str(d), ["--to-source"]
        _plant(there, str(elsewhere), pairs)
        code = main(["--config", str(lab.config_path), "restore", sid, os.path.join(str(d), what), *args,
                     *(["--overwrite"] if overwrite else []), "--json"])
        return code, there, str(elsewhere)


@pytest.fixture(scope="module")
def _kinds_made(tmp_path_factory, sshd):
    return _Setup(tmp_path_factory.mktemp("kinds"), sshd)


@pytest.fixture(scope="module")
def whole(_kinds_made):
    """Each mode's restore of the whole directory, done once: mode -> (exit code, json, there, elsewhere)."""
    import io
    from contextlib import redirect_stdout

    done = {}

    def get(mode):
        if mode not in done:
            out = io.StringIO()
            with redirect_stdout(out):
                code, there, elsewhere = _kinds_made.restore(mode)
            done[mode] = (code, json.loads(out.getvalue()), there, elsewhere)
        return done[mode]
    return get


@pytest.mark.parametrize("pair", PAIRS, ids=[f"{b}-over-{t}" for b, t in PAIRS])
@pytest.mark.parametrize("mode", ["local", "to", "ssh"])
def test_what_is_in_the_way_is_replaced_but_a_directory_holding_files(whole, mode, pair):
    code, report, there, elsewhere = whole(mode)
    b, t = pair
    name = f"{b}-{t}"
    named = {os.path.basename(e["path"]): e for e in report["not_restored"]}
    assert code == 3 and report["exit_code"] == 3 and not report["errors"], report
    refused = {os.path.basename(e["path"]) for e in report["refused"]}
    if t == "symlink" and mode != "to":     # on a source: never replaced, nor followed
        assert _shape(os.path.join(there, name)) == ("symlink", "target-target") and name in refused, report
        assert name not in named
    elif t == "fulldir":     # its files may be none the backup has: kept, named
        assert _shape(os.path.join(there, name)) == ("dir", ("theirs",))
        seen = "was there when the restore looked" if mode == "ssh" else "is there"
        assert named[name]["kind"] == KIND[b] and f"a directory holding files {seen}" in named[name]["why"], named
        assert "kept" in named[name]["why"], named
    else:
        assert _shape(os.path.join(there, name)) == SAVED_SHAPE[b], name
        assert name not in named and name not in refused, report
    if b == "linked":
        assert _shape(os.path.join(there, name + ".twin")) == ("file", b"backup")
        if t != "fulldir" and not (t == "symlink" and mode != "to"):
            assert os.stat(os.path.join(there, name)).st_nlink == 2
    if t == "linked":      # the other name, outside what is restored, keeps what it had
        assert _shape(os.path.join(elsewhere, name)) == ("file", b"target")


def test_the_summary_counts_what_was_kept(whole):
    for mode in ("local", "to", "ssh"):
        code, report, _there, _elsewhere = whole(mode)
        kept = sorted(os.path.basename(e["path"]) for e in report["not_restored"])
        assert kept == sorted(f"{b}-fulldir" for b in SAVED if b != "dir"), (mode, report["not_restored"])
        # (a local restore names each entry below a symlink where the backup has a directory too)
        refused = {os.path.basename(e["path"]) for e in report["refused"] if not e["path"].endswith("/inner")}
        assert refused == (set() if mode == "to" else {f"{b}-symlink" for b in SAVED if b != "symlink"}), report
        assert ("4 not restored" if mode == "to" else " not restored") in report["summary"], report["summary"]


@pytest.mark.parametrize("saved", ["file", "symlink", "fifo", "linked"])
@pytest.mark.parametrize("mode", ["local", "to", "ssh"])
def test_an_entry_restored_alone_keeps_a_directory_holding_files_in_its_way(_kinds_made, capsys, mode, saved):
    name = f"{saved}-fulldir"
    code, there, _elsewhere = _kinds_made.restore(mode, name, pairs=[(saved, "fulldir")])
    report = json.loads(capsys.readouterr().out)
    assert code == 3 and not report["errors"], report
    assert [(os.path.basename(e["path"]), e["kind"]) for e in report["not_restored"]] == [(name, KIND[saved])], report
    assert _shape(os.path.join(there, name)) == ("dir", ("theirs",))


def test_without_overwrite_a_directory_holding_files_where_a_linked_file_goes_is_named(_kinds_made, capsys):
    """Over SSH, without --overwrite: the first name of a hard-linked file of the backup where the
    source has a directory holding files: the restore is refused at once, naming it (rsync's dry
    run waited there for ever, until io_timeout)."""
    code, there, _elsewhere = _kinds_made.restore("ssh", pairs=[("linked", "fulldir"), ("linked", "symlink")],
                                                  overwrite=False)
    err = capsys.readouterr().err
    assert code == 1 and "linked-fulldir (a directory holding files there)" in err, err
    assert "-symlink (a symlink there)" in err, err
    assert "move it away first" in err and _shape(os.path.join(there, "linked-fulldir")) == ("dir", ("theirs",))


@pytest.mark.parametrize("mode", ["local", "ssh"])
def test_directories_holding_files_in_the_way_of_any_name_are_kept(tmp_path, sshd, capsys, mode):
    """Names of any bytes (255 of them, not UTF-8, wildcards, a newline, trailing blanks), files
    and hard-linked ones of the backup, deep down too, each where a directory holding files is
    now: kept and named by their exact names, the rest restored (over SSH, rsync's rules leave
    out those names and no other)."""
    from tests.trees import HOSTILE_NAMES

    names = HOSTILE_NAMES + [b"x" * 255, b"trailing blank ", b"[ab]", b"a*"]
    lab, d, sid = _lab(tmp_path, mode, sshd)
    top = os.fsencode(d)
    os.makedirs(top + b"/sub")
    for i, name in enumerate(names):
        where = top + (b"/sub/" if i % 2 else b"/")
        with open(where + name, "wb") as f:
            f.write(b"backup")
        if i % 3 == 0:
            os.link(where + name, where + b"twin %d" % i)
    with open(top + b"/ab", "wb") as f:     # what `[ab]` and `a*` would match as patterns
        f.write(b"backup")
    assert lab.backup(lab.load(), sid, now=T0).status == "completed"
    for i, name in enumerate(names):
        where = top + (b"/sub/" if i % 2 else b"/")
        os.unlink(where + name)
        os.makedirs(where + name + b"/inner")
    os.unlink(top + b"/ab")
    code = main(["--config", str(lab.config_path), "restore", sid, str(d), "--to-source", "--overwrite", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 3 and not report["errors"], report
    kept = sorted(os.fsencode(e["path"]) for e in report["not_restored"])
    # named from / (without its first slash) onto a local source as over SSH and into --to DIR (a
    # local one named them below the configured directory)
    want = sorted(os.path.relpath(top + (b"/sub/" if i % 2 else b"/") + name, b"/") for i, name in enumerate(names))
    assert kept == want, (kept, want)
    assert open(top + b"/ab", "rb").read() == b"backup"
    for i, name in enumerate(names):
        where = top + (b"/sub/" if i % 2 else b"/")
        assert os.listdir(where + name) == [b"inner"]
        if i % 3 == 0:
            assert open(where + b"twin %d" % i, "rb").read() == b"backup"


def test_an_empty_mount_point_where_the_backup_has_a_file_is_kept(tmp_path, tmpfs, capsys):
    """--to DIR with --overwrite: an empty directory there that is a mount point, where the backup
    has a file: rmdir(2) cannot remove it (EBUSY); kept and named as such (exit 3), the rest
    restored."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    d = lab.src / "data"
    (d / "m").write_bytes(b"backup")
    (d / "other").write_bytes(b"other")
    assert lab.backup(lab.load(), now=T0).status == "completed"
    there = tmp_path / "out" / str(d).lstrip("/")
    there.mkdir(parents=True)
    tmpfs(there / "m", "size=1m")
    code = main(["--config", str(lab.config_path), "restore", "loc", str(d), "--to", str(tmp_path / "out"),
                 "--overwrite", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 3 and not report["errors"], report
    assert [(e["kind"], os.path.basename(e["path"])) for e in report["not_restored"]] == [("file", "m")], report
    assert "in use (a mount point)" in report["not_restored"][0]["why"]
    assert os.path.ismount(there / "m") and (there / "other").read_bytes() == b"other"


@pytest.mark.parametrize("there", ["file", "fifo", "linked"])
def test_a_directory_restored_alone_where_the_ssh_source_has_another_kind_is_refused_said(_kinds_made, capsys, there):
    """Over SSH, a directory of the backup restored alone where the source has a file, a FIFO or a
    linked file: rsync cannot put it there (it said only "cannot stat destination"); the restore
    names it, nothing written (a local restore replaces it)."""
    code, where, _elsewhere = _kinds_made.restore("ssh", f"dir-{there}", pairs=[("dir", there)])
    err = capsys.readouterr().err
    assert code == 1 and f"dir-{there} is not a directory there, where the backup has one" in err, err
    assert "nothing written" in err and _shape(os.path.join(where, f"dir-{there}"))[0] == ("file" if there != "fifo" else "fifo")


def test_a_directory_holding_only_line_breaks_named_is_kept_where_a_file_restored_alone_goes(tmp_path, sshd, capsys):
    """Over SSH, a file restored alone where the source has a directory holding only entries named
    by line breaks: kept and named (exit 3), as one holding any other name; the check took it for
    empty (the shell drops a listing's trailing line breaks) and rsync failed on it (exit 1)."""
    lab, d, _ = _lab(tmp_path, "ssh", sshd)
    d.mkdir()
    (d / "x").write_bytes(b"backup")
    assert lab.backup(lab.load(), "web", now=T0).status == "completed"
    (d / "x").unlink()
    (d / "x").mkdir()
    for name in (b"\n", b"\n\n"):
        open(os.fsencode(d / "x") + b"/" + name, "wb").close()
    code = main(["--config", str(lab.config_path), "restore", "web", str(d / "x"), "--to-source", "--overwrite", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 3 and not report["errors"], report
    assert [(e["kind"], os.path.basename(e["path"])) for e in report["not_restored"]] == [("file", "x")], report
    assert sorted(os.listdir(os.fsencode(d / "x"))) == [b"\n", b"\n\n"]


def test_a_directory_made_again_where_the_empty_one_was_removed_is_kept(tmp_path, capsys, monkeypatch):
    """Onto a local source with --overwrite, the empty directory where the backup has a file is
    removed, and another makes a directory at that name before the file is put there: it was an
    error (exit 1, "Is a directory"); now kept and named (exit 3), as a directory holding files."""
    lab, d, sid = _lab(tmp_path, "local", None)
    (d / "x").write_bytes(b"backup")
    (d / "other").write_bytes(b"other")
    assert lab.backup(lab.load(), sid, now=T0).status == "completed"
    (d / "x").unlink()
    (d / "x").mkdir()
    (d / "other").unlink()
    real_rmdir = os.rmdir

    def made_again(path, *, dir_fd=None):
        real_rmdir(path, dir_fd=dir_fd)
        if path == b"x":
            os.mkdir(path, dir_fd=dir_fd)

    monkeypatch.setattr(os, "rmdir", made_again)
    code = main(["--config", str(lab.config_path), "restore", sid, str(d), "--to-source", "--overwrite", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 3 and not report["errors"], report
    [kept] = report["not_restored"]
    assert (os.path.basename(kept["path"]), kept["kind"]) == ("x", "file") and "made there again" in kept["why"], kept
    assert _shape(str(d / "x")) == ("dir", ()) and (d / "other").read_bytes() == b"other"


def test_an_empty_mount_point_where_the_backup_has_a_file_is_kept_over_ssh(tmp_path, sshd, tmpfs, capsys):
    """As the test above, onto an SSH source without one_file_system: rsync's rmdir of the mount
    point failed (EBUSY) and the restore with it (exit 1); now kept and named as locally (exit 3)."""
    lab, d, sid = _lab(tmp_path, "ssh", sshd)
    d.mkdir()
    (d / "m").write_bytes(b"backup")
    (d / "other").write_bytes(b"other")
    assert lab.backup(lab.load(), sid, now=T0).status == "completed"
    (d / "m").unlink()
    (d / "other").unlink()
    tmpfs(d / "m", "size=1m")
    code = main(["--config", str(lab.config_path), "restore", sid, str(d), "--to-source", "--overwrite", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 3 and not report["errors"], report
    assert [(e["kind"], os.path.basename(e["path"])) for e in report["not_restored"]] == [("file", "m")], report
    assert "in use (a mount point)" in report["not_restored"][0]["why"]
    assert os.path.ismount(d / "m") and (d / "other").read_bytes() == b"other"
