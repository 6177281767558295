"""A source's symlinks against the backup server beyond one medium: an archive rotating over two
media, checkpoint discs and restores from them (the server's files never reach a disc, nor a
restore). See test_symlinked_basis.py."""

from __future__ import annotations

import os
import shutil
import stat

import pytest

from rabtui.checkpoint.as_backed_up import attributes_differ
from rabtui.errors import WorkFailed
from rabtui.media import medium_layout
from rabtui.restore import run as R
from tests import fidelity_more
from tests.test_rebuild_disc_state import _rebuilt
from tests.test_symlinked_basis import _flip, _lab, _server_file
from tests.trees import Lab, burn_due, snapshot, ssh_source_lines, write_files


@pytest.mark.parametrize("where", ["local", "ssh"])
def test_archive_flip_between_backups_on_two_media(tmp_path, request, where):
    lab, cfg, src, sid = _lab(tmp_path, lambda: request.getfixturevalue("sshd"), where, "archive")
    outside, passwd = _server_file(tmp_path, "passwd", b"root:x:0:0")
    _, group = _server_file(tmp_path, "group", b"same size!")
    write_files(src, {b"photo": b"p"})
    os.symlink(outside, os.path.join(src, b"e"))
    for m in ("m1", "m2"):
        assert lab.backup(cfg, sid, medium_id=m).status == "completed"
    _flip(src, b"e", {b"passwd": b"the source's passwd, longer", b"group": b"not same!!"})
    for m in ("m1", "m2", "m1", "m2"):
        r = lab.backup(cfg, sid, medium_id=m)
        assert r.status in ("completed", "warnings"), r.reason
        assert passwd.read_bytes() == b"root:x:0:0" and group.read_bytes() == b"same size!"
        assert os.stat(passwd).st_nlink == 1 and os.stat(group).st_nlink == 1
        union = os.fsencode(medium_layout.archive_root(lab.media[int(m[1]) - 1][1], sid, os.fsdecode(src)))
        assert snapshot(union) == snapshot(src), m


def _disc_lab(tmp_path, kind: str):
    lab = Lab(tmp_path, media_count=1)
    (lab.src / "data").mkdir()
    cfg = lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{lab.src / "data"}"\n'
                    f'kind = "{kind}"\n\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\n')
    return lab, cfg, os.fsencode(lab.src / "data")


def _image_bytes(tmp_path) -> bytes:
    return b"".join(p.read_bytes() for p in (tmp_path / "iso").glob("*.iso"))


@pytest.mark.parametrize("kind", ["standard", "archive"])
def test_a_checkpoint_never_puts_a_server_file_on_a_disc(tmp_path, kind):
    lab, cfg, src = _disc_lab(tmp_path, kind)
    outside, _ = _server_file(tmp_path, "shadow", b"SERVER-SECRET-0123456789")
    write_files(src, {b"keep": b"kept"})
    os.symlink(outside, os.path.join(src, b"e"))
    os.symlink(os.path.join(os.fsencode(outside), b"shadow"), os.path.join(src, b"f"))
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    assert b"SERVER-SECRET-0123456789" not in _image_bytes(tmp_path)
    # a restore from the disc of a path below the stored symlink: refused, nothing read out there
    for asked in (b"e/shadow", b"f"):
        target = tmp_path / ("out-" + asked.decode().replace("/", "-"))
        try:
            R.restore(cfg, store, "loc", os.path.join(src, asked), checkpoint=number, to=target)
        except WorkFailed:
            pass
        got = snapshot(target) if target.exists() else {}
        assert b"SERVER-SECRET-0123456789" not in b"".join(got.values()), asked
    assert (outside / "shadow").read_bytes() == b"SERVER-SECRET-0123456789"
    assert sorted(os.listdir(outside)) == ["shadow"]


def test_a_symlink_to_a_directory_written_with_a_trailing_slash_is_verified_on_its_disc(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"sub/a": b"a"})
    # the disc's Rock Ridge record drops one trailing slash ('sub/' is read back 'sub'), keeps two or '/'
    targets = {"link": "sub/", "deep": "x//y/", "rooted": "/sub/", "two": "sub//", "root": "/", "plain": "sub"}
    for n, (name, to) in enumerate(targets.items()):
        os.symlink(to, data / name)
        os.utime(data / name, (1_000_000_000 + n, 1_000_000_000 + n), follow_symlinks=False)
    if os.geteuid() == 0:     # an owner and an xattr of its own, which only root gives a symlink
        os.lchown(data / "link", 1234, 2345)
        os.setxattr(data / "link", "trusted.kept", b"yes", follow_symlinks=False)
    assert lab.backup(cfg).status == "completed"
    number = burn_due(cfg, lab.store(), {"*"}, verified=True)
    # restored from the disc: each symlink to its recorded target, its time, owner and xattrs kept; so
    # too with the state rebuilt from the discs (their images verified again), from the disc's own record
    for into, rebuilt in (("disc", False), ("rebuilt", True)):
        if rebuilt:
            _rebuilt(lab, ["--config", str(lab.config_path)])
            cfg = lab.load()
        got = R.restore(cfg, lab.store(), "loc", str(data), checkpoint=number, to=tmp_path / into)
        assert not got.written.problems(), got.summary
        back = tmp_path / into / str(data).lstrip("/")
        assert {name: os.readlink(back / name) for name in targets} == targets
        assert fidelity_more.differences(data, back, seconds=True) == []
        assert {name: os.lstat(back / name).st_mtime for name in targets} == \
            {name: os.lstat(data / name).st_mtime for name in targets}
    # the symlink restored alone
    got = R.restore(cfg, lab.store(), "loc", str(data / "deep"), checkpoint=number, to=tmp_path / "one")
    assert not got.written.problems(), got.summary
    assert os.readlink(tmp_path / "one" / str(data / "deep").lstrip("/")) == "x//y/"


def test_a_disc_symlink_differing_otherwise_than_by_one_trailing_slash_is_not_as_backed_up():
    link = stat.S_IFLNK | 0o777
    assert attributes_differ(link, None, b"sub", 0, None, b"sub/") is None
    assert attributes_differ(link, None, b"x//y", 0, None, b"x//y/") is None
    for on_disc, recorded in ((b"sub", b"sub//"), (b"", b"/"), (b"su", b"sub/"), (b"sub/", b"sub"),
                              (b"sub", b"sub/."), (b"sub/", b"sub//")):
        assert attributes_differ(link, None, on_disc, 0, None, recorded), (on_disc, recorded)


# targets the disc's record drops one trailing slash of: not UTF-8, only dots, near the record's limit
ODD_TARGETS = {b"odd": b"\xff\xfe/", b"dot": b"./", b"up": b"../", b"ups": b"../../", b"x": b"x/",
               b"long": b"/".join([b"d" * 240] * 4) + b"/", b"plain": b"sub"}


def test_symlinks_of_a_trailing_slash_restored_from_the_disc_onto_a_source_over_ssh(tmp_path, sshd):
    lab = Lab(tmp_path, media_count=1)
    data = lab.src / "data"
    write_files(data, {"sub/a": b"a", "in/deeper/f": b"f"})
    cfg = lab.write(ssh_source_lines(sshd) + f'\n[[sources.directories]]\npath = "{data}"\nkind = "standard"\n'
                    f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\n')
    lab.trust(sshd)
    for name, to in ODD_TARGETS.items():
        os.symlink(to, os.path.join(os.fsencode(data), name))
        os.symlink(to, os.path.join(os.fsencode(data), b"in/deeper", name))
    for d in ("in/deeper", "in", "sub"):
        os.utime(data / d, (1_000_000_000, 1_000_000_000))
    assert lab.backup(cfg, "web").status == "completed"
    number = burn_due(cfg, lab.store(), {"*"}, verified=True)
    before = fidelity_more.describe(data, every=True, seconds=True)
    shutil.rmtree(data / "in")
    for name in ODD_TARGETS:
        os.unlink(os.path.join(os.fsencode(data), name))
    # onto the source itself, over SSH: each symlink of the directory, and one alone
    got = R.restore(cfg, lab.store(), "web", str(data), checkpoint=number, to_source=True)
    assert not got.written.problems(), got.summary
    after = fidelity_more.describe(data, every=True, seconds=True)[0]
    # each as backed up, the directories holding them their times too (the top one is the source's own)
    assert {k: (v, before[0].get(k)) for k, v in after.items() if before[0].get(k) != v and k != b"."} == {}
    os.unlink(data / "in/deeper/odd")
    got = R.restore(cfg, lab.store(), "web", os.path.join(os.fsencode(data), b"in/deeper/odd"),
                    checkpoint=number, to_source=True)
    assert not got.written.problems(), got.summary
    assert os.readlink(os.path.join(os.fsencode(data), b"in/deeper/odd")) == b"\xff\xfe/"


def test_a_directory_holding_a_symlink_of_a_trailing_slash_restored_from_the_disc_keeps_its_time(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"sub/a": b"a", "in/f": b"f"})
    os.symlink("sub/", data / "in" / "link")
    os.utime(data / "in", (1_000_000_000, 1_000_000_000))
    assert lab.backup(cfg).status == "completed"
    number = burn_due(cfg, lab.store(), {"*"}, verified=True)
    got = R.restore(cfg, lab.store(), "loc", str(data), checkpoint=number, to=tmp_path / "back")
    assert not got.written.problems(), got.summary
    back = tmp_path / "back" / str(data).lstrip("/")
    assert os.readlink(back / "in" / "link") == "sub/"
    assert os.lstat(back / "in").st_mtime == 1_000_000_000


def test_hard_links_of_a_symlink_of_a_trailing_slash_restored_from_the_disc_stay_one(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"sub/a": b"a"})
    for to, names in (("sub/", ("a", "b", "in/c")), ("sub", ("d", "e"))):
        os.symlink(to, data / names[0])
        for name in names[1:]:
            os.makedirs(os.path.dirname(data / name), exist_ok=True)
            os.link(data / names[0], data / name, follow_symlinks=False)
    assert lab.backup(cfg).status == "completed"
    number = burn_due(cfg, lab.store(), {"*"}, verified=True)
    got = R.restore(cfg, lab.store(), "loc", str(data), checkpoint=number, to=tmp_path / "back")
    assert not got.written.problems(), got.summary
    back = tmp_path / "back" / str(data).lstrip("/")
    assert {n: os.readlink(back / n) for n in ("a", "b", "in/c", "d")} == {"a": "sub/", "b": "sub/", "in/c": "sub/",
                                                                           "d": "sub"}
    assert len({os.lstat(back / n).st_ino for n in ("a", "b", "in/c")}) == 1
    assert os.lstat(back / "d").st_ino == os.lstat(back / "e").st_ino
