"""Corners of the xattrs with an empty value kept off the discs (kept_off.py) and of the ACLs and
xattrs recorded of a checkpoint's directories (dir_attrs.py): hard links with a large value and an
ACL beside the empty one, hostile names, hundreds of such entries, a backup changed between the
plan and the burn, and a checkpoint planned before the directories were recorded. Real backups,
real xorriso onto an `images:` drive."""

from __future__ import annotations

import os
import subprocess
import threading

import pytest

from rabtui.checkpoint import questions, run, verify_loop
from rabtui.cli import main
from rabtui.events import READY, REWRITE, SKIP, ScriptedPrompter
from rabtui.restore import run as R
from rabtui.state.store import Store
from tests.fidelity import ACCESS_ACL, unsummed_said
from tests.test_checkpoint import _record
from tests.test_checkpoint_deep import no_room_to_extract
from tests.test_disc_dir_acls import _away
from tests.test_disc_empty_xattrs import _xattrs, place  # noqa: F401  (the fixture)
from tests.test_disc_large_xattrs import _value
from tests.test_disc_verify_metadata import _verify, alter
from tests.test_rebuild_disc_state import _rebuilt
from tests.trees import Lab, write_files

ROOMS = ["extracted", "streamed"]
HOSTILE = [b"new\nline", b"\xff\xfenot-utf8", b"n" * 255, b"q\"uo'te\\back *?[x]"]


def _setfacl(path, *args) -> None:
    subprocess.run(["setfacl", *args, os.fsdecode(path)], check=True, capture_output=True)


def _burnt(lab) -> None:
    assert lab.backup(lab.load()).status == "completed"
    assert main(["--config", str(lab.config_path), "checkpoint", "burn", "--yes", "--now"]) == 0


def test_hard_links_with_an_empty_value_an_acl_and_a_large_value_come_back_as_one_inode(shm):
    lab = Lab(shm, media_count=1)
    lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"a": b"linked", "b/c": b"x"})
    try:
        os.setxattr(data / "a", "user.big", _value(10_000))
    except OSError as exc:
        pytest.skip(f"/dev/shm takes no 10,000-byte xattr value here: {exc.strerror}")
    os.setxattr(data / "a", "user.empty", b"")
    os.setxattr(data / "a", "system.posix_acl_access", ACCESS_ACL)
    os.link(data / "a", data / "b" / "a2")
    os.link(data / "a", data / "a3")
    _burnt(lab)
    cfg, store = lab.load(), Store(lab.state)
    assert _verify(cfg, store, 1) == ""
    res = R.restore(cfg, store, "loc", str(data), checkpoint=1, to=shm / "out")
    assert not res.written.problems(), res.summary
    out = shm / "out" / str(data).lstrip("/")
    for name in ("a", "a3", "b/a2", "b"):
        assert _xattrs(out / name) == _xattrs(data / name), name
    assert os.stat(out / "a").st_ino == os.stat(out / "a3").st_ino == os.stat(out / "b" / "a2").st_ino


@pytest.mark.parametrize("rebuilt", [False, True])
def test_hostile_names_with_empty_values_and_directory_acls_verify_and_restore(place, capsys, rebuilt):
    lab = Lab(place, media_count=1)
    lab.with_discs("4MiB")
    data = os.fsencode(lab.src / "data")
    os.makedirs(data, exist_ok=True)
    for k, name in enumerate(HOSTILE):
        d = os.path.join(data, name)
        os.mkdir(d)
        _setfacl(d, "-m", "u:1234:rwx")
        _setfacl(d, "-d", "-m", "u:1234:rwx")
        os.setxattr(d, "user.e", b"")
        os.setxattr(d, "user.v", b"of the directory")
        f = os.path.join(d, name[:200] + b"f")
        with open(f, "wb") as fh:
            fh.write(b"%d" % k)
        os.setxattr(f, "user.empty", b"")
        os.setxattr(f, "user.v", b"v")
        os.setxattr(f, "system.posix_acl_access", ACCESS_ACL)
        os.link(f, os.path.join(d, name[:200] + b"g"))
    _burnt(lab)
    if rebuilt:
        store = Store(lab.state)
        rows = {t: sorted(tuple(r) for r in store.all(f"SELECT * FROM {t}")) for t in ("disc_dir_attrs", "disc_xattrs_off")}
        store.close()
        _rebuilt(lab, ["--config", str(lab.config_path)])
        store = Store(lab.state)
        assert {t: sorted(tuple(r) for r in store.all(f"SELECT * FROM {t}")) for t in rows} == rows
        assert len(rows["disc_dir_attrs"]) == 4 * 3 and len(rows["disc_xattrs_off"]) == 4 * 3
    cfg, store = lab.load(), Store(lab.state)
    assert _verify(cfg, store, 1) == ""
    res = R.restore(cfg, store, "loc", os.fsdecode(data), checkpoint=1, to=place / "out")
    assert not res.written.problems(), res.summary
    out = os.path.join(os.fsencode(place / "out"), data.lstrip(b"/"))
    for name in HOSTILE:
        for p in (name, os.path.join(name, name[:200] + b"f"), os.path.join(name, name[:200] + b"g")):
            assert _xattrs(os.path.join(out, p)) == _xattrs(os.path.join(data, p)), p
        assert os.stat(os.path.join(out, name, name[:200] + b"f")).st_ino == \
            os.stat(os.path.join(out, name, name[:200] + b"g")).st_ino


@pytest.mark.slow
def test_hundreds_of_entries_and_directories_with_empty_values_fit_their_disc(place):
    lab = Lab(place, media_count=1)
    lab.with_discs("4MiB")
    data = lab.src / "data"
    data.mkdir(parents=True, exist_ok=True)
    for i in range(150):
        d = data / f"d{i:03d}"
        d.mkdir()
        os.setxattr(d, "user.dv", b"d" * 300)
        os.setxattr(d, "user.de", b"")
        if i == 0:
            _setfacl(d, "-d", "-m", "u:1234:rwx")
            default_acl = os.getxattr(d, "system.posix_acl_default")
        else:       # the same default ACL as setfacl gave the first, without a process each
            os.setxattr(d, "system.posix_acl_default", default_acl)
        for j in range(3):
            f = d / f"f{j}"
            f.write_bytes(b"x" * 10)
            os.setxattr(f, "user.empty", b"")
            os.setxattr(f, "user.v", b"v" * 300)
            os.setxattr(f, "system.posix_acl_access", ACCESS_ACL)
    _burnt(lab)
    cfg, store = lab.load(), Store(lab.state)
    assert store.one("SELECT COUNT(*) FROM disc_xattrs_off")[0] == 150 * 4
    assert _verify(cfg, store, 1) == ""
    res = R.restore(cfg, store, "loc", str(data), checkpoint=1, to=place / "out")
    assert not res.written.problems(), res.summary
    out = place / "out" / str(data).lstrip("/")
    for name in ("d000", "d077/f1", "d149", "d149/f2"):
        assert _xattrs(out / name) == _xattrs(data / name), name


def _planned(place):
    lab = Lab(place, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"gets/f": b"gets an empty one", "loses/f": b"loses its empty one", "acl/g": b"g"})
    os.setxattr(data / "gets" / "f", "user.a", b"1")
    os.setxattr(data / "loses" / "f", "user.a", b"1")
    os.setxattr(data / "loses" / "f", "user.empty", b"")
    _setfacl(data / "acl", "-d", "-m", "u:1234:rwx")
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    backed_up = next((lab.media[0][1] / "loc").glob("backup-*")) / "data" / str(data).lstrip("/")
    return cfg, store, number, backed_up


CHANGED = [
    (lambda b: os.setxattr(b / "gets" / "f", "user.empty", b""),
     "/gets/f holds xattr user.empty with an empty value, which it had not when checkpoint 1 was planned"),
    (lambda b: os.removexattr(b / "loses" / "f", "user.empty"),
     "/loses/f (xattr user.empty removed in the backup on the medium after the checkpoint was planned)"),
    (lambda b: _setfacl(b / "acl", "-d", "-m", "u:4321:rwx"),
     "/acl (default ACL changed (+default:user:4321:rwx) in the backup on the medium after the checkpoint was planned)"),
]


@pytest.mark.parametrize("change, said", CHANGED)
def test_a_backup_changed_between_the_plan_and_the_burn_is_said_and_no_disc_passes(place, change, said):
    cfg, store, number, backed_up = _planned(place)
    change(backed_up)
    asked = []

    def answer(q):
        asked.append(q.text)
        return READY if q.kind == questions.INSERT else "skip"
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                              prompter=ScriptedPrompter(answer))
    assert res.status != "completed" and "not verified" in res.message, res.message
    assert said in asked[-1], asked


@pytest.mark.parametrize("room", ROOMS)
@pytest.mark.parametrize("away", [False, True])
def test_a_checkpoint_planned_before_its_directories_were_recorded_still_verifies(place, monkeypatch, room, away):
    lab = Lab(place, media_count=1)
    lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"acl/f": b"f", "g": b"g"})
    _setfacl(data / "acl", "-m", "u:1234:rwx")
    _setfacl(data / "acl", "-d", "-m", "u:1234:rwx")
    os.setxattr(data / "acl", "user.tag", b"t")
    _burnt(lab)
    store = Store(lab.state)
    store.execute("DELETE FROM disc_dir_attrs")
    store.execute("UPDATE checkpoints SET dirs_recorded=NULL")
    store.close()
    if away:
        _away(place)
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    out = run.verify_checkpoint(lab.load(), Store(lab.state), 1, disc=1, emit=lambda e: None, cancel=threading.Event(),
                                prompter=ScriptedPrompter([READY]))
    assert out.verified == [1], out.message
    if away:
        assert f"not checked: {unsummed_said()}the mode, owner, time, ACLs and xattrs of its" \
               " directories" in out.message, out.message
    else:
        res = R.restore(lab.load(), Store(lab.state), "loc", str(data), checkpoint=1, to=place / "out")
        assert not res.written.problems(), res.summary
        assert _xattrs(place / "out" / str(data).lstrip("/") / "acl") == _xattrs(data / "acl")


@pytest.mark.parametrize("room", ROOMS)
def test_a_large_value_of_a_directory_with_an_empty_one_changed_on_the_disc_fails_it_without_the_backup(
        shm, monkeypatch, room):
    lab = Lab(shm, media_count=1)
    lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"d/f": b"f"})
    try:
        os.setxattr(data / "d", "user.big", _value(10_000))
    except OSError as exc:
        pytest.skip(f"/dev/shm takes no 10,000-byte xattr value here: {exc.strerror}")
    os.setxattr(data / "d", "user.empty", b"")
    _burnt(lab)
    changed = bytearray(_value(10_000))
    changed[5000] = changed[5000] % 254 + 1
    alter(shm / "iso" / "RAB1D01.iso", "-setfattr", "user.big", os.fsdecode(bytes(changed)),
          "/data/loc/" + str(data).lstrip("/") + "/d", "--")
    _away(shm)
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    why = _verify(lab.load(), Store(lab.state), 1)
    assert "verification failed" in why and "/d (xattr user.big differs from the one recorded)" in why, why


def test_a_directory_with_an_empty_value_keeps_its_setgid_and_sticky_bits_on_the_disc(place):
    """xorriso drops them from a directory mapped without its ACL and xattrs; they are set again."""
    lab = Lab(place, media_count=1)
    lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"sg/f": b"f", "st/g": b"g", "su/h": b"h", "acl/i": b"i", "*?[x]/j": b"j"})
    for name, mode in (("sg", 0o2775), ("st", 0o1777), ("su", 0o4755), ("acl", 0o2750), ("*?[x]", 0o3770)):
        os.chmod(data / name, mode)
        os.setxattr(data / name, "user.empty", b"")
    _setfacl(data / "acl", "-m", "u:1234:r-x")
    _setfacl(data / "acl", "-d", "-m", "u:1234:rwx")
    os.chmod(data / "acl", 0o2750)
    _burnt(lab)
    cfg, store = lab.load(), Store(lab.state)
    assert _verify(cfg, store, 1) == ""
    res = R.restore(cfg, store, "loc", str(data), checkpoint=1, to=place / "out")
    assert not res.written.problems(), res.summary
    out = place / "out" / str(data).lstrip("/")
    for name in ("sg", "st", "su", "acl", "*?[x]"):
        assert os.lstat(out / name).st_mode == os.lstat(data / name).st_mode, name
        assert _xattrs(out / name) == _xattrs(data / name), name


FILE_CHANGES = [
    (lambda f: os.removexattr(f, "user.empty"), "xattr user.empty removed"),
    (lambda f: os.setxattr(f, "user.empty", b"a value now"), "xattr user.empty (recorded empty) given a value"),
]


@pytest.mark.parametrize("change, what", FILE_CHANGES)
@pytest.mark.parametrize("written", [False, True])
def test_a_files_empty_xattr_changed_in_the_backup_after_the_plan_is_named_and_no_rewrite_offered(
        place, monkeypatch, change, what, written):
    """The plan recorded loses/f's user.empty as kept off the discs, with its empty value; the
    backup on the medium loses it, or gives it a value, afterwards. A disc written from the backup
    is checked against that record, so no disc (a rewrite neither) can pass: changed before the
    disc is written, nothing is written; after, the verification fails. Either way the failure
    names the file and what changed, and offers no rewrite."""
    cfg, store, number, backed_up = _planned(place)
    if written:
        verify_disc, changed = verify_loop.verify_disc, []

        def changed_then_verified(*args, **kw):     # between the write and its verification
            if not changed:
                change(backed_up / "loses" / "f")
                changed.append(True)
            return verify_disc(*args, **kw)

        monkeypatch.setattr(verify_loop, "verify_disc", changed_then_verified)
    else:
        change(backed_up / "loses" / "f")
    prompter = ScriptedPrompter(lambda q: SKIP if q.kind == "disc_failed" else READY)
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(), prompter=prompter)
    assert res.skipped == [1], res.message
    q = next(q for q in prompter.asked if q.kind == "disc_failed")
    assert f"/loses/f ({what} in the backup on the medium after the checkpoint was planned)" in q.text, q.text
    assert REWRITE not in q.choices and f"rabtui checkpoint abandon {number}" in q.text, (q.choices, q.text)
    if written:
        assert "verification failed" in q.text, q.text
    else:
        assert "nothing was written" in q.text, q.text
        assert not (place / "iso" / f"RAB{number}D01.iso").exists()
