"""The ACLs (named entries, default ACL) and xattrs of a checkpoint's directories are recorded when
it is planned: a disc whose directories' ACLs or xattrs were changed fails verification by name
even with the backup's medium away, and after a rebuild from the discs; a restore from the discs
says which directory did not come back as recorded. Real backups, real xorriso onto an `images:`
drive, setfacl; the images altered with xorriso itself (alter: the MD5s made anew)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading

import pytest

from rabtui.checkpoint import run
from rabtui.cli import main
from rabtui.events import READY, SKIP, ScriptedPrompter
from rabtui.restore import run as R
from rabtui.state.store import Store
from tests.fidelity import unsummed_said
from tests.test_checkpoint_deep import no_room_to_extract
from tests.test_disc_verify_metadata import alter
from tests.test_rebuild_disc_state import _rebuilt
from tests.trees import Lab, closed, made_once, write_files

ROOMS = ["extracted", "streamed"]

pytestmark = pytest.mark.skipif(shutil.which("setfacl") is None, reason="no setfacl here")


def _burnt(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"acl/f": b"in a directory with ACLs", "plain/g": b"in one without", "h": b"h"})
    try:
        subprocess.run(["setfacl", "-m", "u:1234:rwx", str(data / "acl")], check=True, capture_output=True)
        subprocess.run(["setfacl", "-d", "-m", "u:1234:rwx", str(data / "acl")], check=True, capture_output=True)
        os.setxattr(data / "acl", "user.tag", b"of-the-directory")
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(f"{tmp_path} takes no ACLs or user. xattrs here: {exc}")
    assert lab.backup(lab.load()).status == "completed"
    argv = ["--config", str(lab.config_path)]
    assert main([*argv, "checkpoint", "burn", "--yes", "--now"]) == 0
    return lab, argv, data, "/data/loc/" + str(data).lstrip("/")


@pytest.fixture(scope="module")
def _burnt_made(tmp_path_factory):
    def make(live):
        lab, _argv, data, prefix = _burnt(live)
        closed(lab)
        return data, prefix

    yield from made_once(tmp_path_factory, make)


@pytest.fixture
def burnt(_burnt_made):
    """What _burnt makes, anew for each test (made once for the module), in lab.tmp."""
    (data, prefix), made = _burnt_made
    lab = Lab(made.anew(), media_count=1)
    return lab, ["--config", str(lab.config_path)], data, prefix


def _away(tmp_path) -> None:
    """The backup's medium unmounted: nothing to compare the disc with but the state."""
    for m in [p for p in tmp_path.iterdir() if p.name.startswith("medium")]:
        m.rename(m.with_name(m.name + "-away"))


def _verify(lab) -> str:
    """Verify disc 1; the failure question's text, or "" when it passed (all or what it could)."""
    prompter = ScriptedPrompter([READY, SKIP])
    out = run.verify_checkpoint(lab.load(), Store(lab.state), 1, disc=1, emit=lambda e: None, cancel=threading.Event(),
                                prompter=prompter)
    if out.verified == [1]:
        return ""
    assert out.skipped == [1] and len(prompter.asked) == 2, out.message
    return prompter.asked[1].text


CHANGES = [
    (lambda p: ["-setfacl", "u::rwx,u:4321:rwx,g::r-x,m::rwx,o::r-x", f"{p}/acl", "--"], "/acl (ACL differs"),
    (lambda p: ["-setfacl", "default:u::rwx,default:g::r-x,default:o::r-x", f"{p}/acl", "--"], "/acl (ACL differs"),
    (lambda p: ["-setfattr", "user.tag", "changed", f"{p}/acl", "--"], "/acl (xattr user.tag differs from the one"),
    (lambda p: ["-setfattr", "user.planted", "x", f"{p}/plain", "--"], "/plain (xattr user.planted on the disc, not"),
    (lambda p: ["-setfacl", "u::rwx,u:4321:r-x,g::r-x,m::r-x,o::r-x", f"{p}/plain", "--"], "/plain (ACL on the disc, not"),
]


@pytest.mark.parametrize("room", ROOMS)
def test_an_untouched_disc_verifies_without_the_backup_its_directories_acls_checked(burnt, monkeypatch, room):
    lab, _argv, _data, _prefix = burnt
    _away(lab.tmp)
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    out = run.verify_checkpoint(lab.load(), Store(lab.state), 1, disc=1, emit=lambda e: None, cancel=threading.Event(),
                                prompter=ScriptedPrompter([READY]))
    assert out.verified == [1], out.message
    assert f"not checked: {unsummed_said()}the mode, owner and time of its directories:" \
        in out.message, out.message


@pytest.mark.parametrize("room", ROOMS)
@pytest.mark.parametrize("change, named", CHANGES)
def test_a_directory_whose_acl_or_xattrs_changed_fails_the_disc_without_the_backup(burnt, monkeypatch, room,
                                                                                      change, named):
    lab, _argv, _data, prefix = burnt
    alter(lab.tmp / "iso" / "RAB1D01.iso", *change(prefix))
    _away(lab.tmp)
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    why = _verify(lab)
    assert "verification failed" in why and named in why, why


@pytest.mark.parametrize("change, named", CHANGES[:4:3])
def test_a_checkpoint_rebuilt_from_its_discs_still_compares_its_directories(burnt, capsys, change, named):
    lab, argv, _data, prefix = burnt
    _rebuilt(lab, argv)
    capsys.readouterr()
    assert _verify(lab) == ""
    alter(lab.tmp / "iso" / "RAB1D01.iso", *change(prefix))
    why = _verify(lab)
    assert "verification failed" in why and named in why, why


def test_a_restore_from_discs_whose_directory_acl_changed_says_so(burnt, tmp_path):
    lab, _argv, data, prefix = burnt
    res = R.restore(lab.load(), Store(lab.state), "loc", str(data), checkpoint=1, to=tmp_path / "out")
    assert not res.written.problems(), res.summary
    alter(lab.tmp / "iso" / "RAB1D01.iso", *CHANGES[0][0](prefix))
    res = R.restore(lab.load(), Store(lab.state), "loc", str(data), checkpoint=1, to=tmp_path / "again")
    said = "\n".join(res.written.problems())
    assert f"not restored (directory): {str(data).lstrip('/')}/acl: ACL restored other than recorded" in said, said


def test_a_directory_carried_as_filler_is_restored_from_the_discs_as_recorded(tmp_path):
    """Its directories are at add/N on the discs, where the record has them too, not at data/."""
    from rabtui.checkpoint import prepare
    from tests.test_checkpoint import _not_due

    lab = Lab(tmp_path, media_count=1)
    dirs = ("data", "fill")
    for d in dirs:
        (lab.src / d).mkdir()
    cfg = lab.write('[[sources]]\nid = "loc"\n'
                    + "".join(f'[[sources.directories]]\npath = "{lab.src / d}"\n' for d in dirs)
                    + f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\n')
    fill = lab.src / "fill"
    write_files(lab.src / "data", {"a": b"due"})
    write_files(fill, {"sub/f": b"f", "g": b"g"})
    try:
        subprocess.run(["setfacl", "-m", "u:1234:rwx", str(fill / "sub")], check=True, capture_output=True)
        subprocess.run(["setfacl", "-d", "-m", "u:1234:rwx", str(fill / "sub")], check=True, capture_output=True)
        os.setxattr(fill / "sub", "user.tag", b"of-the-directory")
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(f"{tmp_path} takes no ACLs or user. xattrs here: {exc}")
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    _not_due(store, fill)      # checkpointed recently: carried as filler
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
    assert run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                               prompter=ScriptedPrompter(lambda q: READY)).status == "completed"
    assert {bytes(r["disc_path"]) for r in store.all("SELECT disc_path FROM disc_dir_attrs")} == {b"add/1/sub"}
    res = R.restore(cfg, store, "loc", str(fill), checkpoint=number, to=tmp_path / "out")
    assert not res.written.problems(), res.summary
    out = tmp_path / "out" / str(fill).lstrip("/") / "sub"
    assert os.getxattr(out, "user.tag") == b"of-the-directory"
    assert os.getxattr(out, "system.posix_acl_default") == os.getxattr(fill / "sub", "system.posix_acl_default")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root sets trusted. and security. xattrs")
@pytest.mark.parametrize("kind", ["standard", "archive"])
def test_a_directorys_trusted_and_security_xattrs_go_onto_the_disc(tmp_path, kind):
    """xorriso 1.5.4 gives a directory it maps by itself (-map_single) its user. xattrs only: one
    with a trusted. or security. xattr (an SELinux label, say) failed the verification of every
    disc written of it ("missing on the disc"), and the checkpoint could never complete. The disc
    holds them (its setgid and sticky bits kept), and a restore from it gives them back."""
    from tests.trees import burn_due

    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    cfg = lab.with_discs("cd-700", [("data", kind)])
    data = lab.src / "data"
    write_files(data, {"sub/f": b"f"})
    want = {"user.k": b"u", "trusted.t": b"t", "security.s": b"s"}
    for d in (data / "sub", data):
        for name, value in want.items():
            os.setxattr(d, name, value)
    os.chmod(data / "sub", 0o3750)
    assert lab.backup(cfg).status == "completed"
    number = burn_due(cfg, lab.store(), asked={"*"}, verified=True)
    shutil.move(lab.media[0][1], tmp_path / "medium-away")
    out = tmp_path / "out"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--checkpoint", str(number),
                 "--to", str(out)]) == 0
    got = out / str(data).lstrip("/")
    for d in (got / "sub", got):
        assert {name: os.getxattr(d, name) for name in os.listxattr(d)} == want, d
    assert oct(os.lstat(got / "sub").st_mode) == oct(0o43750)
