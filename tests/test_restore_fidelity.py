"""Everything the file system holds comes back (issue 20): the fidelity tree (tests/fidelity.py)
-> a real backup -> restore from the medium, compared with the source by rsync's own metadata
comparison (`rsync -naHAXc --numeric-ids --itemize-changes` prints nothing) and the sparse file's
allocated blocks; and what a target cannot hold is named in the summary, not dropped."""

from __future__ import annotations

import os
from datetime import datetime

import pytest

from rabtui.restore import run as R
from tests import fidelity
from tests.trees import Lab, sandbox_fixtures

T0 = datetime(2026, 6, 1, 3, 0)


def _restored_equal(src, restored, skipped, expected=()):
    """rsync finds nothing different (but what is `expected`), the sparse file is sparse."""
    diffs = fidelity.differences(src, restored, acls="acl" not in skipped)
    assert diffs == list(expected), "\n".join(diffs)
    sparse = os.path.join(restored, fidelity.SPARSE_NAME)
    assert fidelity.sparse_content_ok(sparse)
    assert fidelity.allocated(sparse) <= fidelity.allocated(os.path.join(src, fidelity.SPARSE_NAME)) + (1 << 20)


def _fidelity_backup(tmp_path):
    """The fidelity tree backed up (checkpoints of dvd+r discs onto an `images:` drive configured,
    none taken): lab, cfg, store and what the tree skipped."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("dvd+r")
    skipped = fidelity.build(lab.src / "data")
    res = lab.backup(cfg, now=T0)
    assert res.status == "completed", res.reason
    return lab, cfg, lab.store(), skipped


# made once for the module, each test given it anew
_sandbox_made, fidelity_backup = sandbox_fixtures(_fidelity_backup, "fidelity_backup")


def test_fidelity_tree_back_from_the_medium(fidelity_backup, tmp_path, capsys):
    from rabtui.cli import main

    lab, cfg, _store, skipped = fidelity_backup
    for part, why in skipped.items():
        print(f"skipped {part}: {why}")
    data = str(lab.src / "data")
    out = tmp_path / "out"
    assert main(["--config", str(lab.config_path), "restore", "loc", data, "--to", str(out)]) == 0
    printed = capsys.readouterr().out
    _restored_equal(data, out / data.lstrip("/"), skipped)
    w_line = printed.splitlines()[-1] if "not restored" not in printed else printed
    assert "3 hard links" not in w_line           # two names link to the first: 2 hard links
    assert "2 hard links" in printed and "3 symlinks" in printed
    assert ("4 special files" if fidelity.is_root() else "2 special files") in printed
    assert " 0 attributes" not in printed


@pytest.mark.skipif(not fidelity.is_root(), reason="restoring ownership and capabilities needs root")
def test_capability_survives_the_chown(fidelity_backup, tmp_path):
    lab, cfg, store, _ = fidelity_backup
    data = str(lab.src / "data")
    R.restore(cfg, store, "loc", data + "/bin/ping", to=tmp_path / "one")
    ping = tmp_path / "one" / data.lstrip("/") / "bin/ping"
    assert os.getxattr(ping, "security.capability") == fidelity.CAPABILITY


def test_what_the_target_cannot_hold_is_named(fidelity_backup, tmp_path):
    """Without the right to make device nodes (CAP_MKNOD dropped), they are listed with the reason."""
    from tests.trees import restore_without

    lab, _cfg, _store, skipped = fidelity_backup
    if "root" in skipped:
        pytest.skip("the tree has no device nodes when not root")
    got = restore_without("mknod", lab, str(lab.src / "data"), tmp_path / "nomknod")
    names = sorted(os.path.basename(n["path"]) for n in got["not_restored"])
    assert names == ["block-like", "null-like"], got
    assert all(n["kind"] == "device" and "root" in n["why"] for n in got["not_restored"])
    assert "2 not restored" in got["summary"] and "block-like" in got["summary"]
    assert got["restored"]["special_files"] == 2       # the FIFO and the socket
    assert got["restored"]["files"] > 0 and not got["errors"]



def test_fidelity_tree_back_from_the_discs(fidelity_backup, tmp_path):
    """All of it but the socket, which the checkpoint leaves off its discs and says so."""
    import threading

    from rabtui.checkpoint import prepare, run
    from rabtui.events import READY, WARNING, ScriptedPrompter

    lab, cfg, store, skipped = fidelity_backup
    events = []
    number = prepare.record(cfg, store, prepare.compute(cfg, store, emit=events.append), drive=cfg.checkpoint.drive)
    warned = [e.message for e in events if e.kind == WARNING]
    assert len(warned) == 1 and "1 socket is not put on discs" in warned[0] and fidelity.SOCKET_NAME in warned[0]
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                              prompter=ScriptedPrompter(lambda q: READY))
    assert res.status == "completed", res.message
    data = str(lab.src / "data")
    got = R.restore(cfg, store, "loc", data, checkpoint=number, to=tmp_path / "out")
    assert not got.written.problems(), got.summary
    restored = tmp_path / "out" / data.lstrip("/")
    assert not os.path.lexists(restored / fidelity.SOCKET_NAME)
    _restored_equal(data, restored, skipped, expected=[f"cS+++++++++ {fidelity.SOCKET_NAME}"])


def test_times_the_target_keeps_only_to_the_second_are_said(tmp_path):
    """A target file system that keeps whole seconds (ext2/ext3 with 128-byte inodes, vfat) drops
    the fraction of a second of each time it is given, without an error: the restore says how many
    entries lost it, naming the first, instead of handing back other times in silence."""
    from tests.test_same_second import seconds_file_system

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    data = lab.src / "data"
    (data / "sub").mkdir()
    (data / "sub/fine").write_text("a time with nanoseconds")
    (data / "whole").write_text("a time in whole seconds")
    for name, ns in (("sub/fine", 1_700_000_000_123_456_789), ("whole", 1_700_000_000_000_000_000),
                     ("sub", 1_700_000_000_987_654_321), (".", 1_700_000_000_000_000_000)):
        os.utime(data / name, ns=(ns, ns))
    assert lab.backup(cfg, now=T0).status == "completed"
    target = tmp_path / "target"
    target.mkdir()
    with seconds_file_system(target):
        got = R.restore(cfg, lab.store(), "loc", str(data), to=target)
        restored = target / str(data).lstrip("/")
        assert os.stat(restored / "sub/fine").st_mtime_ns == 1_700_000_000_000_000_000
    said = [(n, why) for kind, n, why in got.written.not_restored if kind == "time"]
    assert len(said) == 1, got.written.not_restored
    name, why = said[0]
    assert name.endswith(b"sub/fine") and "2 entries" in why and "to the second" in why, said
    assert "not restored (time)" in got.summary

    again = R.restore(cfg, lab.store(), "loc", str(data), to=tmp_path / "exact")
    assert not again.written.not_restored, again.summary


def _corners(root):
    """The fidelity tree and its corners (tests/fidelity_more.py) in `root`."""
    from tests import fidelity_more

    skipped = fidelity.build(root)
    fidelity_more.build(root)
    return skipped


@pytest.mark.slow      # tens of seconds: handed out first (conftest)
def test_the_corners_back_from_the_medium_and_the_discs(tmp_path):
    """Directories of mode 0000, 1777 and setgid, nanosecond times, a hole at a file's end, one file
    of 1001 names in two directories, symlinks to directories and in loops, newlines and 255-byte
    non-UTF-8 names: compared entry by entry (lstat, xattrs with ACLs, content, hard-link groups)."""
    from tests import fidelity_more

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("dvd+r")
    data = str(lab.src / "data")
    _corners(lab.src / "data")
    assert lab.backup(cfg, now=T0).status == "completed"
    got = R.restore(cfg, lab.store(), "loc", data, to=tmp_path / "out")
    assert not got.written.problems(), got.summary
    assert fidelity_more.differences(data, tmp_path / "out" / data.lstrip("/")) == []
    from tests.trees import burn_due

    number = burn_due(cfg, lab.store(), asked={"*"})
    got = R.restore(cfg, lab.store(), "loc", data, checkpoint=number, to=tmp_path / "disc")
    assert not got.written.problems(), got.summary
    assert fidelity_more.differences(data, tmp_path / "disc" / data.lstrip("/"), seconds=True,
                                     skip=(fidelity.SOCKET_NAME.encode(),)) == []


@pytest.mark.slow
@pytest.mark.skipif(not fidelity.is_root(), reason="the SSH user must be root to restore owners, devices and xattrs")
def test_the_corners_back_onto_the_source_over_ssh(tmp_path, sshd):
    """The same tree restored onto its SSH source, gone and then changed since (attributes lost, a
    hard link broken, a file cut): as it was, with --overwrite; without it, each change is named."""
    from rabtui.errors import WorkFailed
    from tests import fidelity_more
    from tests.trees import ssh_source_lines

    lab = Lab(tmp_path, media_count=1)
    remote = tmp_path / "remote"
    _corners(remote)
    cfg = lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{remote}"\nkind = "standard"\n')
    lab.trust(sshd)
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    os.rename(remote, tmp_path / "as-it-was")
    R.restore(cfg, lab.store(), "web", str(remote), to_source=True)
    assert fidelity_more.differences(tmp_path / "as-it-was", remote) == []

    os.removexattr(remote / "acl/file", "system.posix_acl_access")
    os.chmod(remote / "bin/su", 0o755)
    os.unlink(remote / "links/many/n0500")
    (remote / "links/many/n0500").write_text("one inode, a thousand names\n")
    with open(remote / "holes/tail", "r+b") as f:
        f.truncate(5)
    with pytest.raises(WorkFailed) as err:
        R.restore(cfg, lab.store(), "web", str(remote), to_source=True)
    for name in ("acl/file (ACL)", "bin/su (mode)", "holes/tail"):
        assert name in str(err.value), str(err.value)
    R.restore(cfg, lab.store(), "web", str(remote), to_source=True, overwrite=True)
    assert fidelity_more.differences(tmp_path / "as-it-was", remote) == []


def test_an_entry_restored_into_a_directory_with_a_default_acl_has_the_backups_acl(tmp_path):
    """A file, a FIFO and a directory made in a directory with a default ACL get that ACL from
    the kernel (user 1234 may read them): restored, they have the backup's, here none, on the
    source itself and in a --to directory with such an ACL; one that had an ACL keeps it."""
    from tests import fidelity_more

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    inherit = lab.src / "data/inherit"
    (inherit / "sub").mkdir(parents=True)
    (inherit / "plain").write_text("0640, no ACL")
    os.chmod(inherit / "plain", 0o640)
    os.mkfifo(inherit / "fifo", 0o600)
    (inherit / "with-acl").write_text("an ACL of its own")
    try:
        os.setxattr(inherit / "with-acl", "system.posix_acl_access", fidelity.ACCESS_ACL)
        os.setxattr(inherit, "system.posix_acl_default", fidelity.DEFAULT_ACL)
    except OSError as exc:
        pytest.skip(f"the test file system takes no POSIX ACLs: {exc.strerror}")
    assert lab.backup(cfg, now=T0).status == "completed"
    kept = tmp_path / "as-it-was"
    os.rename(inherit, kept)
    inherit.mkdir()
    os.setxattr(inherit, "system.posix_acl_default", fidelity.DEFAULT_ACL)
    for name in ("plain", "fifo", "sub", "with-acl"):
        R.restore(cfg, lab.store(), "loc", str(inherit / name), to_source=True)
    assert fidelity_more.differences(kept, inherit) == []

    into = tmp_path / "out" / str(inherit).lstrip("/")
    into.mkdir(parents=True)
    os.setxattr(into, "system.posix_acl_default", fidelity.DEFAULT_ACL)
    R.restore(cfg, lab.store(), "loc", str(inherit), to=tmp_path / "out", overwrite=True)
    assert fidelity_more.differences(kept, into) == []


def test_a_directory_put_back_with_overwrite_loses_the_xattrs_the_backup_has_not(tmp_path):
    """--overwrite puts a directory there back as the backup has it: an xattr given since goes, one
    removed since comes back, as rsync -X does onto an SSH source."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    d = lab.src / "data/dir"
    d.mkdir(parents=True)
    (d / "f").write_text("x")
    os.setxattr(d, "user.backed-up", b"1")
    assert lab.backup(cfg, now=T0).status == "completed"
    os.setxattr(d, "user.given-since", b"2")
    os.removexattr(d, "user.backed-up")
    R.restore(cfg, lab.store(), "loc", str(d), to_source=True, overwrite=True)
    assert os.listxattr(d) == ["user.backed-up"]
    into = tmp_path / "out" / str(d).lstrip("/")
    into.mkdir(parents=True)
    os.setxattr(into, "user.given-since", b"2")
    R.restore(cfg, lab.store(), "loc", str(d), to=tmp_path / "out", overwrite=True)
    assert os.listxattr(into) == ["user.backed-up"]


def test_what_comes_off_the_discs_into_a_directory_with_a_default_acl_has_the_backups_acl(tmp_path):
    """The discs are extracted beside the target (--to) when it is on the server's own file system:
    the staging directory made there takes no default ACL from the target for the files extracted
    in it to take in turn."""
    from tests.trees import burn_due

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("dvd+r")
    data = lab.src / "data"
    (data / "plain").write_text("0640, no ACL")
    os.chmod(data / "plain", 0o640)
    assert lab.backup(cfg, now=T0).status == "completed"
    number = burn_due(cfg, lab.store(), asked={"*"})
    out = tmp_path / "out"
    out.mkdir()
    try:
        os.setxattr(out, "system.posix_acl_default", fidelity.DEFAULT_ACL)
    except OSError as exc:
        pytest.skip(f"the test file system takes no POSIX ACLs: {exc.strerror}")
    got = R.restore(cfg, lab.store(), "loc", str(data), checkpoint=number, to=out)
    assert not got.written.problems(), got.summary
    restored = out / str(data).lstrip("/") / "plain"
    assert os.listxattr(restored) == [] and os.stat(restored).st_mode & 0o7777 == 0o640


def test_a_file_without_an_acl_in_a_directory_with_a_default_acl_comes_off_the_discs_without_one(tmp_path):
    """xorriso gives a directory its default ACL before it extracts what is inside, and the kernel
    hands it on to each file and directory made there: those that have no ACL on the disc (made
    before the default ACL was set, or cleared with `setfacl -b`) get theirs removed."""
    from tests import fidelity_more
    from tests.trees import burn_due

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("dvd+r")
    inherit = lab.src / "data/inherit"
    (inherit / "sub").mkdir(parents=True)
    (inherit / "plain").write_text("0640, no ACL")
    os.chmod(inherit / "plain", 0o640)
    try:
        os.setxattr(inherit, "system.posix_acl_default", fidelity.DEFAULT_ACL)
    except OSError as exc:
        pytest.skip(f"the test file system takes no POSIX ACLs: {exc.strerror}")
    (inherit / "inherited").write_text("made after the default ACL: has the ACL it gave")
    assert os.listxattr(inherit / "inherited") == ["system.posix_acl_access"]
    assert lab.backup(cfg, now=T0).status == "completed"
    number = burn_due(cfg, lab.store(), asked={"*"})
    data = str(lab.src / "data")
    got = R.restore(cfg, lab.store(), "loc", data, checkpoint=number, to=tmp_path / "out")
    assert not got.written.problems(), got.summary
    assert fidelity_more.differences(data, tmp_path / "out" / data.lstrip("/"), seconds=True) == []
    plain = str(inherit / "plain")
    got = R.restore(cfg, lab.store(), "loc", plain, checkpoint=number, to=tmp_path / "one")
    assert not got.written.problems(), got.summary
    assert os.listxattr(tmp_path / "one" / plain.lstrip("/")) == []


@pytest.mark.skipif(not fidelity.is_root(), reason="only root sets a trusted. xattr (a symlink takes no user. one)")
def test_a_symlinks_trusted_xattrs_come_back_from_the_medium(tmp_path):
    """Set on the link itself, never on what it points to."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    data = lab.src / "data"
    (data / "f").write_bytes(b"pointed to")
    os.symlink("f", data / "l")
    os.setxattr(data / "l", "trusted.kept", b"on the link", follow_symlinks=False)
    os.setxattr(data / "l", "trusted.empty", b"", follow_symlinks=False)
    assert lab.backup(cfg, now=T0).status == "completed"
    res = R.restore(cfg, lab.store(), "loc", str(data), to=tmp_path / "out")
    assert not res.written.problems(), res.summary
    out = tmp_path / "out" / str(data).lstrip("/")
    assert {n: os.getxattr(out / "l", n, follow_symlinks=False) for n in os.listxattr(out / "l", follow_symlinks=False)} \
        == {"trusted.kept": b"on the link", "trusted.empty": b""}
    assert os.listxattr(out / "f") == []
