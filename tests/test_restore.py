"""Restore from real backups on a medium and from real ISO checkpoint discs (images: drive), with
hostile names, split files, a wrong disc, path escapes, overwrite rules, and onto the test sshd."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from datetime import datetime, timedelta

import pytest

from rabtui.restore import disc_drive
from rabtui.restore import disc_extract
from rabtui.restore import remote as restore_remote
from rabtui.restore import run as R
from rabtui.restore import target_dirs as restore_target_dirs
from rabtui.restore import tree_copy
from rabtui.restore import write as restore_write
from rabtui.errors import UsageError, WorkFailed
from rabtui.events import ScriptedPrompter
from rabtui.state.store import Store
from tests.trees import Lab, hostile_tree, snapshot, ssh_source_lines, write_files

T0 = datetime(2026, 6, 1, 3, 0)


def _backed_up(tmp_path, files=None, hostile=True):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    if hostile:
        hostile_tree(lab.src / "data")
    write_files(lab.src / "data", files or {"etc/conf": b"v1", "etc/sub/deep": b"deep"})
    os.chmod(lab.src / "data/etc/conf", 0o640)
    os.utime(lab.src / "data/etc/conf", (1_600_000_000, 1_600_000_000))
    first = lab.backup(cfg, now=T0)
    assert first.status == "completed"
    return lab, cfg, first


def test_restore_directory_with_hostile_names_from_medium(tmp_path):
    lab, cfg, first = _backed_up(tmp_path)
    target = tmp_path / "out"
    res = R.restore(cfg, lab.store(), "loc", str(lab.src / "data"), to=target)
    restored = target / str(lab.src / "data").lstrip("/")
    assert snapshot(restored) == snapshot(lab.src / "data")
    st = os.stat(restored / "etc/conf")
    assert (st.st_mode & 0o777, int(st.st_mtime)) == (0o640, 1_600_000_000)
    assert res.written.files == len(snapshot(lab.src / "data"))
    assert not [n for n in os.listdir(target) if n.startswith(".rabtui-restore")]


def test_restore_picks_backup_and_never_overwrites_without_flag(tmp_path):
    lab, cfg, first = _backed_up(tmp_path, hostile=False)
    (lab.src / "data/etc/conf").write_bytes(b"v2 longer")
    second = lab.backup(cfg, now=T0 + timedelta(days=1))
    store = lab.store()
    target = tmp_path / "out"
    conf = str(lab.src / "data/etc/conf")
    R.restore(cfg, store, "loc", conf, to=target)
    out = target / conf.lstrip("/")
    assert out.read_bytes() == b"v2 longer"                       # newest backup holding it
    with pytest.raises(WorkFailed, match="1 file exists in the target already"):
        R.restore(cfg, store, "loc", conf, backup=first.path.name, to=target)
    assert out.read_bytes() == b"v2 longer"
    R.restore(cfg, store, "loc", conf, backup=first.path.name, to=target, overwrite=True)
    assert out.read_bytes() == b"v1"
    with pytest.raises(UsageError, match="no backup"):
        R.restore(cfg, store, "loc", conf, backup="backup-19990101000000", to=target)
    with pytest.raises(UsageError, match="not in a directory"):
        R.restore(cfg, store, "loc", "/somewhere/else", to=target)
    assert second.status == "completed"


def test_missing_medium_is_asked_for(tmp_path):
    lab, cfg, first = _backed_up(tmp_path, hostile=False)
    medium = lab.media[0][1]
    hidden = tmp_path / "hidden"
    medium.rename(hidden)
    asked = []

    def answer(q):
        asked.append(q.text)
        hidden.rename(medium)      # the operator inserts it
        return "ready"

    R.restore(cfg, lab.store(), "loc", str(lab.src / "data/etc"), to=tmp_path / "out", prompter=ScriptedPrompter(answer))
    assert asked and "m1" in asked[0]
    assert (tmp_path / "out" / str(lab.src / "data/etc/conf").lstrip("/")).read_bytes() == b"v1"


def test_path_escapes_refused(tmp_path):
    for bad in (b"../x", b"a/../../x", b"/etc/passwd", b"", b"a/./b", b"a\0b"):
        with pytest.raises(WorkFailed):
            restore_target_dirs.check_name(bad)
    # a symlink in the target that points outside: nothing is written through it
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    os.symlink(outside, target / "etc")
    src = tmp_path / "src"
    write_files(src, {"etc/passwd": b"evil"})
    w = tree_copy.copy_into(os.fsencode(src / "etc"), os.fsencode(target), b"etc/x/etc", overwrite=True)
    assert [r for r, _ in w.refused] == [b"etc/x/etc"] and "symlink" in w.refused[0][1] and w.files == 0
    assert os.listdir(outside) == []
    with pytest.raises(WorkFailed, match="1 file exists in the target"):
        tree_copy.copy_into(os.fsencode(src / "etc"), os.fsencode(target), b"etc", overwrite=False)
    # with --overwrite the symlink itself is replaced by a directory; still nothing lands outside
    tree_copy.copy_into(os.fsencode(src / "etc"), os.fsencode(target), b"etc", overwrite=True)
    assert not os.path.islink(target / "etc") and (target / "etc/passwd").read_bytes() == b"evil"
    assert os.listdir(outside) == []
    # a symlink restored first, then a file below its name: refused as well
    tree = tmp_path / "tree"
    (tree).mkdir()
    os.symlink(outside, tree / "link")
    w = restore_write.SafeWriter(tmp_path / "t2", overwrite=True)
    w.put(os.fsencode(tree / "link"), b"link", os.lstat(tree / "link"))
    w.put(os.fsencode(src / "etc/passwd"), b"link/file", os.lstat(src / "etc/passwd"))
    assert w.result.refused[0][0] == b"link/file" and "symlink" in w.result.refused[0][1]
    assert os.listdir(outside) == []


def test_restore_onto_the_source_over_ssh(tmp_path, sshd, known_hosts):
    lab = Lab(tmp_path, media_count=1)
    remote_dir = tmp_path / "remote"
    write_files(remote_dir, {"a": b"one", "sub/b": b"two", "dash -x": b"three"})
    cfg = lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{remote_dir}"\n')
    os.makedirs(os.path.expanduser("~/.ssh"), exist_ok=True)
    with open(os.path.expanduser("~/.ssh/known_hosts"), "w") as f:
        f.write(sshd.known_hosts_line())
    res = lab.backup(cfg, "web", now=T0)
    assert res.status == "completed", res.reason
    (remote_dir / "a").write_bytes(b"changed")
    (remote_dir / "sub/b").unlink()
    store = lab.store()
    with pytest.raises(WorkFailed, match="1 file exists on web already and differs"):
        R.restore(cfg, store, "web", str(remote_dir), to_source=True)
    assert (remote_dir / "a").read_bytes() == b"changed"
    R.restore(cfg, store, "web", str(remote_dir / "sub"), to_source=True)   # only missing files
    assert (remote_dir / "sub/b").read_bytes() == b"two"
    R.restore(cfg, store, "web", str(remote_dir), to_source=True, overwrite=True)
    assert (remote_dir / "a").read_bytes() == b"one" and (remote_dir / "dash -x").read_bytes() == b"three"


# --- checkpoint discs -----------------------------------------------------------------------------------


def make_disc(iso, volid: str, files: dict[bytes, bytes], catalog: bytes, mtime: int = 1_650_000_000):
    """An ISO in the documented disc layout (a state copy that records its checkpoint, none of its
    entries), written by real xorriso."""
    stage = os.fsencode(iso) + b".stage"
    for disc_path, content in files.items():
        p = os.path.join(stage, disc_path)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(content)
        os.utime(p, (mtime, mtime))
    os.makedirs(os.path.join(stage, b"rabtui"), exist_ok=True)
    with open(os.path.join(stage, b"rabtui/catalog.tsv"), "wb") as f:
        f.write(catalog)
    with tempfile.TemporaryDirectory() as empty:     # a copy of the state, as every disc holds one
        store = Store(empty)
        store.execute("INSERT INTO checkpoints(number, created, status, disc_type, disc_sectors, discs)"
                      " VALUES (?, ?, 'burning', 'CD', 1, 1)", (int(volid[3:].split("D")[0]), mtime))
        store.backup_to(os.fsdecode(os.path.join(stage, b"rabtui/rabtui.db")))
        store.close()
    subprocess.run(["xorriso", "-outdev", os.fsdecode(iso), "-blank", "as_needed", "-volid", volid,
                    "-map", os.fsdecode(stage), "/", "-commit"], check=True, capture_output=True)


def _escape(b: bytes) -> bytes:
    from rabtui.checkpoint.layout import escape_path

    return escape_path(b).encode()


def checkpoint_lab(tmp_path, number: int = 3):
    """A config with an images: drive and a two-disc checkpoint: a hostile-named tree on disc 1,
    a file split in two parts across discs 1 and 2."""
    lab = Lab(tmp_path, media_count=1)
    images = tmp_path / "iso"
    images.mkdir()
    cfg = lab.local([("data", "standard")])
    text = lab.config_path.read_text().replace("[[media]]", f'[checkpoint]\ndrive = "images:{images}"\n\n[[media]]', 1)
    lab.config_path.write_text(text)
    cfg = lab.load()
    base = str(lab.src / "data").lstrip("/").encode()
    tree = {base + b"/" + n: b"disc content of " + n for n in
            (b"plain", b"with space", b"new\nline", b"bytes-\xff\xfe", b"sub/-dash")}
    big = os.urandom(300_000)
    bigp = base + b"/big.bin"
    disc1 = {b"data/loc/" + p: c for p, c in tree.items()}
    disc1[b"data/loc/" + bigp + b".part01-of-02"] = big[:200_000]
    disc2 = {b"data/loc/" + bigp + b".part02-of-02": big[200_000:]}
    rows = [(1, dp, len(c)) for dp, c in disc1.items()] + [(2, dp, len(c)) for dp, c in disc2.items()]
    catalog = b"disc\tpath\tsize\tmtime\tsha256\n" + b"".join(
        b"%d\t%s\t%d\t%d\t-\n" % (d, _escape(dp), s, 1_650_000_000) for d, dp, s in rows)
    make_disc(images / f"RAB{number}D01.iso", f"RAB{number}D01", disc1, catalog)
    make_disc(images / f"RAB{number}D02.iso", f"RAB{number}D02", disc2, catalog)
    return lab, cfg, images, tree, big, bigp


def load_disc_rows(cfg, store, images, number=3):
    from rabtui.rebuild.checkpoints import load_checkpoint
    from rabtui.rebuild.disc_text import read_disc_catalog
    from rabtui.rebuild.report import Report

    report = Report()
    load_checkpoint(cfg, store, number, read_disc_catalog(str(images / f"RAB{number}D01.iso")), str(images), report)
    return report


def test_restore_from_checkpoint_discs(tmp_path):
    lab, cfg, images, tree, big, bigp = checkpoint_lab(tmp_path)
    store = lab.store()
    report = load_disc_rows(cfg, store, images)
    assert report.checkpoints == [3] and report.disc_files == 7
    target = tmp_path / "out"
    res = R.restore(cfg, store, "loc", str(lab.src / "data"), checkpoint=3, to=target)
    got = snapshot(os.path.join(os.fsencode(target), os.fsencode(str(lab.src / "data")).lstrip(b"/")))
    want = {p.split(b"/data/", 1)[1] if False else os.path.relpath(p, os.fsencode(str(lab.src / "data")).lstrip(b"/")): c
            for p, c in tree.items()}
    want[b"big.bin"] = big
    assert got == want
    assert int(os.stat(os.path.join(os.fsencode(target), bigp)).st_mtime) == 1_650_000_000
    assert "checkpoint 3" in res.summary

    # one split file alone
    R.restore(cfg, store, "loc", "/" + os.fsdecode(bigp), checkpoint=3, to=tmp_path / "one")
    assert open(os.path.join(os.fsencode(tmp_path / "one"), bigp), "rb").read() == big


def test_wrong_disc_refused(tmp_path):
    lab, cfg, images, tree, big, bigp = checkpoint_lab(tmp_path)
    store = lab.store()
    load_disc_rows(cfg, store, images)
    # disc 2's image replaced by another disc (volume id RAB9D01)
    make_disc(images / "other.iso", "RAB9D01", {b"x": b"y"}, b"")
    os.replace(images / "other.iso", images / "RAB3D02.iso")
    prompter = ScriptedPrompter(["abort"])
    with pytest.raises(WorkFailed, match="RAB9D01"):
        R.restore(cfg, store, "loc", "/" + os.fsdecode(bigp), checkpoint=3, to=tmp_path / "out", prompter=prompter)
    assert "RAB3D02" in prompter.asked[0].text and "RAB9D01" in prompter.asked[0].text
    assert not (tmp_path / "out" / os.fsdecode(bigp)).exists()
    with pytest.raises(WorkFailed, match="holds nothing"):
        R.restore(cfg, store, "loc", str(lab.src / "data/nope"), checkpoint=3, to=tmp_path / "out")


def test_parse_volid_and_argv():
    assert disc_drive.parse_volid(b"Drive current: -indev 'x'\nVolume Id    : RAB12D03\n") == "RAB12D03"
    argv = disc_extract.xorriso_extract_argv("/dev/sr0", b"/data/s/-x", b"/tmp/t")
    at = argv.index("-extract")
    assert argv[:7] == ["xorriso", "-no_rc", "-abort_on", "NEVER", "-backslash_codes", "encode_output", "-osirrox"]
    assert argv[at:at + 3] == ["-extract", "/data/s/-x", "/tmp/t"]
    assert argv[at + 3:] == ["-find", "/data/s/-x", "-has_acl", "-not",
                             "-type", "l", "-exec", "lsdl", "--", "-print", "rabtui: those without an ACL",
                             "-find", "/data/s/-x", "-has_no_acl", "-not",
                             "-type", "l", "-exec", "lsdl", "--",
                             "-find", "/data/s/-x", "-type", "d", "-has_acl", "-exec", "getfacl", "--",
                             "-print", "rabtui: the directories", "-find", "/data/s/-x", "-type", "d", "-exec",
                             "lsdl", "--"]
    assert "-iso_rr_pattern" in argv
    a = restore_remote.rsync_to_source_argv(b"/m/b/data/etc", "u@h:/etc/", rsh="ssh -p 22", overwrite=False, dry_run=True,
                               is_dir=True)
    assert "--existing" in a and "-n" in a and a[-2:] == ["/m/b/data/etc/", "u@h:/etc/"] and "-s" in a


def test_cli_restore_is_a_job(tmp_path, capsys):
    from rabtui.cli import main

    lab, cfg, first = _backed_up(tmp_path, hostile=False)
    args = ["--config", str(lab.config_path), "restore", "loc", str(lab.src / "data/etc"), "--to", str(tmp_path / "o")]
    assert main(args) == 0
    assert "restored /" in capsys.readouterr().out
    assert (tmp_path / "o" / str(lab.src / "data/etc/sub/deep").lstrip("/")).read_bytes() == b"deep"
    assert main(args) == 1                                  # exists already, no --overwrite
    assert "exist in the target already" in capsys.readouterr().err
    jobs = lab.store().all("SELECT kind, status, exit_code FROM jobs ORDER BY id")
    assert [(j["kind"], j["status"], j["exit_code"]) for j in jobs] == [("restore", "completed", 0),
                                                                        ("restore", "failed", 1)]
    with pytest.raises(SystemExit) as exc:                  # neither --to nor --to-source
        main(["--config", str(lab.config_path), "restore", "loc", "/x"])
    assert exc.value.code == 2


def test_restore_archive_directory_from_the_union(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("photos", "archive")])
    write_files(lab.src / "photos", {"2025/a.jpg": b"A" * 100})
    assert lab.backup(cfg, now=T0).status == "completed"
    write_files(lab.src / "photos", {"2026/b.jpg": b"B" * 50})
    (lab.src / "photos/2025/a.jpg").unlink()           # gone from the source, kept by the archive
    second = lab.backup(cfg, now=T0 + timedelta(days=1))
    store = lab.store()
    photos = str(lab.src / "photos")
    R.restore(cfg, store, "loc", photos, to=tmp_path / "out")
    assert snapshot(tmp_path / "out" / photos.lstrip("/")) == {b"2025/a.jpg": b"A" * 100, b"2026/b.jpg": b"B" * 50}
    # one file of an older backup: from the backup that saved it
    R.restore(cfg, store, "loc", photos + "/2025/a.jpg", to=tmp_path / "one")
    assert (tmp_path / "one" / photos.lstrip("/") / "2025/a.jpg").read_bytes() == b"A" * 100
    assert second.status == "completed"


def test_hard_links_and_symlinks_restored_as_such(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", {"a": b"same inode"})
    os.link(lab.src / "data/a", lab.src / "data/b")
    os.symlink("a", lab.src / "data/link")
    assert lab.backup(cfg, now=T0).status == "completed"
    R.restore(cfg, lab.store(), "loc", str(lab.src / "data"), to=tmp_path / "out")
    out = tmp_path / "out" / str(lab.src / "data").lstrip("/")
    assert os.stat(out / "a").st_ino == os.stat(out / "b").st_ino
    assert os.readlink(out / "link") == "a"



@pytest.mark.slow      # tens of seconds: handed out first (conftest)
def test_restore_onto_the_source_uses_its_transfer_options(tmp_path, sshd, known_hosts):
    """The source's rsync_path is what receives the restore on the source, bwlimit throttles it and
    io_timeout stops one that hangs, as in a backup."""
    lab = Lab(tmp_path, media_count=1)
    remote_dir = tmp_path / "remote"
    write_files(remote_dir, {"a": b"one", "sub/b": os.urandom(1024 * 1024)})
    ran, hang = tmp_path / "ran", tmp_path / "hang"
    wrapper = tmp_path / "my rsync"
    wrapper.write_text(f"#!/bin/sh\necho >> '{ran}'\n[ -e '{hang}' ] && sleep 60\nexec rsync \"$@\"\n")
    wrapper.chmod(0o755)
    source = ssh_source_lines(sshd) + f'rsync_path = "\'{wrapper}\'"\nio_timeout = 3\n'
    directory = f'[[sources.directories]]\npath = "{remote_dir}"\n'
    os.makedirs(os.path.expanduser("~/.ssh"), exist_ok=True)
    with open(os.path.expanduser("~/.ssh/known_hosts"), "w") as f:
        f.write(sshd.known_hosts_line())
    assert lab.backup(lab.write(source + directory), "web", now=T0).status == "completed"
    cfg = lab.write(source + "bwlimit = 250\n" + directory)     # the restores throttled, not the backup before them
    ran.unlink()
    (remote_dir / "sub/b").unlink()
    started = time.monotonic()
    R.restore(cfg, lab.store(), "web", str(remote_dir / "sub"), to_source=True)
    assert time.monotonic() - started >= 3.0              # 1 MiB at 250 KiB/s
    assert (remote_dir / "sub/b").stat().st_size == 1024 * 1024
    assert len(ran.read_text().splitlines()) == 2         # the dry run for clashes, then the restore
    hang.touch()
    started = time.monotonic()
    with pytest.raises(WorkFailed, match="stalled|exit 30"):
        R.restore(cfg, lab.store(), "web", str(remote_dir / "sub"), to_source=True, overwrite=True)
    assert time.monotonic() - started < 30


def test_restore_to_source_argv_carries_the_transfer_options():
    a = restore_remote.rsync_to_source_argv(b"/m/b/data/etc", "u@h:/etc/", rsh="ssh", overwrite=True, is_dir=True,
                               io_timeout=600, bwlimit="5M", rsync_path="sudo rsync")
    assert {"--timeout=600", "--bwlimit=5M", "--rsync-path=sudo rsync"} <= set(a)
    assert a.index("--rsync-path=sudo rsync") < a.index("--")


def test_the_directories_made_on_the_way_are_sent_alone():
    """Each directory named on rsync's standard input, not what it holds (no -r), nor one there already."""
    a = restore_remote.rsync_dirs_to_source_argv(b"/m/b/data/srv", "u@h:/srv", rsh="ssh", io_timeout=600,
                                                 bwlimit="5M", rsync_path="sudo rsync")
    assert {"--from0", "--files-from=-", "--ignore-existing", "--timeout=600", "--bwlimit=5M",
            "--rsync-path=sudo rsync"} <= set(a)
    assert not {"-r", "--recursive", "--delete"} & set(a)
    assert a[-3:] == ["--", "/m/b/data/srv/", "u@h:/srv"]


@pytest.mark.parametrize("overwrite, mode", [(False, 0o700), (True, 0o755)])
def test_a_directory_already_there_keeps_its_mode_unless_the_restore_overwrites(tmp_path, overwrite, mode):
    """A directory tightened since the backup (after a leak, say) stays as tight when what it lost
    is restored into it; with --overwrite it is put back as the backup has it."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    secrets = lab.src / "data" / "secrets"
    write_files(secrets, {"a": b"1"})
    secrets.chmod(0o755)
    assert lab.backup(cfg, now=T0).status == "completed"
    secrets.chmod(0o700)
    (secrets / "a").unlink()
    R.restore(cfg, lab.store(), "loc", str(secrets), to_source=True, overwrite=overwrite)
    assert (secrets / "a").read_bytes() == b"1"
    assert os.stat(secrets).st_mode & 0o777 == mode


def test_a_restore_into_a_medium_or_the_state_directory_is_refused(tmp_path, capsys):
    """Into the backup it reads from (onto itself), another place on a medium, or the state
    directory: refused before anything is written, by the command line as by the UI's job."""
    from rabtui.cli import main

    lab, cfg, first = _backed_up(tmp_path, hostile=False)
    conf = str(lab.src / "data/etc/conf")
    medium = lab.media[0][1]
    before = snapshot(medium)
    for target in (first.path / "data", medium, medium / "elsewhere", lab.state):
        with pytest.raises(UsageError, match=r"is not restored into .*: it lies in (medium 'm1'|the state directory)"):
            R.restore(cfg, lab.store(), "loc", conf, to=target, overwrite=True)
        assert main(["--config", str(lab.config_path), "restore", "loc", conf, "--to", str(target)]) == 2
        assert "restore into another directory" in capsys.readouterr().err
    assert snapshot(medium) == before
    assert not (lab.state / conf.lstrip("/")).exists()
    # a directory beside them, as before
    R.restore(cfg, lab.store(), "loc", conf, to=tmp_path / "out")
    assert (tmp_path / "out" / conf.lstrip("/")).read_bytes() == b"v1"


def test_a_restore_cancelled_midway_says_what_it_wrote(tmp_path, monkeypatch):
    """Cancelled (Stop in Runs, `rabtui jobs cancel`) after some files: the reason says how much is
    in the target already and how to finish, as the job's summary."""
    import threading

    from rabtui.errors import Cancelled

    lab, cfg, first = _backed_up(tmp_path, files={"etc/conf": b"v1", **{f"many/f{i:03d}": b"x" for i in range(50)}},
                                 hostile=False)
    cancel = threading.Event()
    real_put = restore_write.SafeWriter.put

    def put(self, src, rel, st):         # the operator stops it when 10 files are written
        real_put(self, src, rel, st)
        if self.result.files == 10:
            cancel.set()

    monkeypatch.setattr(restore_write.SafeWriter, "put", put)
    with pytest.raises(Cancelled) as stopped:
        R.restore(cfg, lab.store(), "loc", str(lab.src / "data/many"), to=tmp_path / "out", cancel=cancel)
    assert str(stopped.value).startswith("restore cancelled: 10 files, 1 directory, ")
    assert "written before it stopped; they stay where they are; restore again with --overwrite" in str(stopped.value)
    assert len(os.listdir(tmp_path / "out" / str(lab.src / "data/many").lstrip("/"))) == 10
