"""A disc passes verification only when it holds what was backed up: content, and also each
entry's time, mode and, for a symlink, its target. Real backups, real xorriso onto an `images:`
drive; the images are then altered with xorriso itself (a new image made from the old one with
one attribute changed, its MD5s made anew, so that only rabtui's own comparison can tell)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from rabtui.checkpoint import questions, run
from rabtui.events import READY, SKIP, ScriptedPrompter
from tests.test_checkpoint import _record
from tests.trees import Lab, sandbox_fixtures, write_files

MTIME = 1_600_000_000          # 2020-09-13 12:26:40 UTC


def _lab(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"f": b"content of f", "sub/g": b"content of g"})
    os.chmod(data / "f", 0o640)
    os.utime(data / "f", (MTIME, MTIME))
    os.symlink("target-one", data / "l")
    os.makedirs(data / "empty")
    os.utime(data / "empty", (MTIME, MTIME))
    return lab, cfg


def burn_one(lab, cfg, store) -> int:
    """A checkpoint of what is due recorded and burnt onto the images: drive, every disc verified
    (any question but a disc's insertion aborts it)."""
    number = _record(lab, cfg, store)
    others = []

    def answer(q):
        if q.kind == questions.INSERT:
            return READY
        others.append(q.text)
        return "abort"
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                              prompter=ScriptedPrompter(answer))
    assert res.status == "completed", (res.message, others)
    return number


def burnt_fixtures(set_up):
    """The fixtures of a module whose tests alter one burnt disc (trees.sandbox_fixtures):
    set_up(tmp_path) (a Lab of one medium and its config, its source's directory `data` written)
    backed up and burnt once for the module; `burnt`: (lab, cfg, store, number, iso, prefix), anew
    for each test in lab.tmp (`iso`: disc 1's image, `prefix`: the directory `data` on the disc)."""
    def burnt(tmp_path):
        lab, cfg = set_up(tmp_path)
        assert lab.backup(cfg).status == "completed"
        store = lab.store()
        number = burn_one(lab, cfg, store)
        return (lab, cfg, store, number, tmp_path / "iso" / f"RAB{number}D01.iso",
                "/data/loc/" + str(lab.src / "data").lstrip("/"))

    return sandbox_fixtures(burnt, "burnt")


_sandbox_made, burnt = burnt_fixtures(_lab)


def alter(iso, *commands: str) -> None:
    """The image made anew by xorriso from itself with `commands` applied (its volume id, hard
    links, ACLs and xattrs kept, its MD5s computed again)."""
    old = iso.with_suffix(".old")
    shutil.move(iso, old)
    subprocess.run(["xorriso", "-no_rc", "-md5", "on", "-hardlinks", "on", "-acl", "on", "-xattr", "any",
                    "-indev", f"stdio:{old}", "-outdev", f"stdio:{iso}",
                    *commands, "-commit", "-end"], check=True, capture_output=True)
    old.unlink()


def _verify(cfg, store, number) -> str:
    """Verify disc 1 again; the text of the failure question, or "" when it passed."""
    prompter = ScriptedPrompter([READY, SKIP])
    out = run.verify_checkpoint(cfg, store, number, disc=1, emit=lambda e: None, cancel=threading.Event(),
                                prompter=prompter)
    if out.verified == [1]:
        return ""
    assert out.skipped == [1] and len(prompter.asked) == 2, out.message
    return prompter.asked[1].text


def test_an_untouched_disc_verifies(burnt):
    _lab_, cfg, store, number, _iso, _prefix = burnt
    assert _verify(cfg, store, number) == ""


def test_a_file_whose_time_differs_on_the_disc_fails_it_by_name(burnt):
    _lab_, cfg, store, number, iso, prefix = burnt
    alter(iso, "-alter_date", "m", "Jan 01 00:00:00 2011", f"{prefix}/f", "--")
    why = _verify(cfg, store, number)
    assert "verification failed" in why and "/f (mtime" in why, why
    assert store.one("SELECT state FROM discs WHERE number=? AND disc=1", (number,))["state"] == "failed"


def test_an_empty_directory_whose_time_differs_fails_the_disc(burnt):
    _lab_, cfg, store, number, iso, prefix = burnt
    alter(iso, "-alter_date", "m", "Jan 01 00:00:00 2011", f"{prefix}/empty", "--")
    why = _verify(cfg, store, number)
    assert "/empty (mtime" in why, why


def test_a_file_whose_mode_differs_on_the_disc_fails_it_by_name(burnt):
    _lab_, cfg, store, number, iso, prefix = burnt
    alter(iso, "-chmod", "0755", f"{prefix}/f", "--")
    why = _verify(cfg, store, number)
    assert "verification failed" in why and "/f (mode 0755, backed up 0640)" in why, why


def test_a_symlink_pointing_elsewhere_on_the_disc_fails_it_by_name(burnt):
    _lab_, cfg, store, number, iso, prefix = burnt
    alter(iso, "-rm", f"{prefix}/l", "--", "-lns", "target-two", f"{prefix}/l")
    why = _verify(cfg, store, number)
    assert "verification failed" in why and "/l (symlink to 'target-two', backed up to 'target-one')" in why, why



@pytest.mark.skipif(os.geteuid() != 0, reason="only root restores a symlink's owner")
def test_a_symlink_whose_owner_differs_on_the_disc_fails_it_and_its_restore_as_root(burnt, tmp_path):
    """osirrox does not give a symlink its owner, which a restore as root then sets from the disc's
    listing: the disc was verified all the same, and a restore gave the owner it held, not the
    backup's."""
    lab, cfg, store, number, iso, prefix = burnt
    alter(iso, "-chown", "4242", f"{prefix}/l", "--")
    why = _verify(cfg, store, number)
    assert "verification failed" in why and "/l (owner 4242:0, backed up 0:0)" in why, why
    why = _restore_refused(cfg, store, number, lab, tmp_path)
    assert "/l: owner 4242:0, backed up 0:0" in why, why

def _restore_refused(cfg, store, number, lab, tmp_path) -> str:
    from rabtui.errors import WorkFailed
    from rabtui.restore import run as R

    try:
        R.restore(cfg, store, "loc", str(lab.src / "data"), checkpoint=number, to=tmp_path / "out")
    except WorkFailed as exc:
        return str(exc)
    return ""


def test_a_restore_from_a_disc_whose_file_time_differs_is_refused_by_name(burnt, tmp_path):
    """A disc changed after it was verified (or verified by an older rabtui): the restore compares
    what came off it with the catalog, times and modes too, and restores nothing wrong."""
    lab, cfg, store, number, iso, prefix = burnt
    alter(iso, "-alter_date", "m", "Jan 01 00:00:00 2011", f"{prefix}/f", "--")
    why = _restore_refused(cfg, store, number, lab, tmp_path)
    assert "nothing was restored" in why and "/f: mtime" in why, why
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("f"))


def test_a_restore_from_a_disc_whose_mode_or_symlink_differs_is_refused_by_name(burnt, tmp_path):
    lab, cfg, store, number, iso, prefix = burnt
    alter(iso, "-chmod", "04755", f"{prefix}/f", "--", "-rm", f"{prefix}/l", "--", "-lns", "/etc/shadow",
          f"{prefix}/l")
    why = _restore_refused(cfg, store, number, lab, tmp_path)
    assert "/f: mode 4755, backed up 0640" in why, why
    assert "/l: symlink to '/etc/shadow', backed up to 'target-one'" in why, why


def test_a_time_beyond_what_a_disc_holds_does_not_fail_every_disc(tmp_path):
    """Rock Ridge holds years 1900..2155: a file dated 2250 is written with the last time a disc
    holds, and verification expects that time, not one no disc can hold."""
    lab, cfg = _lab(tmp_path)
    far = 8_835_955_200              # 2250-01-01
    os.utime(lab.src / "data" / "sub" / "g", (far, far))
    assert lab.backup(cfg).status == "completed"
    burn_one(lab, cfg, lab.store())      # verified, every disc


def test_only_names_of_one_file_within_the_directory_are_recorded_as_its_hard_links(tmp_path):
    """Every file of a second backup is hard-linked to the first one's (--link-dest): that is not a
    hard link the disc holds; two names of one file in the source directory are."""
    lab, cfg = _lab(tmp_path)
    os.link(lab.src / "data" / "f", lab.src / "data" / "f2")
    assert lab.backup(cfg).status == "completed"
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_one(lab, cfg, store)
    grouped = store.all("SELECT path, link_group FROM disc_files WHERE number=? AND link_group IS NOT NULL",
                        (number,))
    assert sorted(os.path.basename(bytes(r["path"])) for r in grouped) == [b"f", b"f2"]
    assert len({r["link_group"] for r in grouped}) == 1


def test_a_time_before_1970_with_a_fraction_verifies_and_restores(tmp_path):
    """1969-12-31 23:59:58.5 is kept as -1 (a whole second, cut toward zero), a disc holds -2 (the
    second it falls in): the disc is as it was backed up, for verification and restore alike."""
    lab, cfg = _lab(tmp_path)
    t = -1_500_000_000
    os.utime(lab.src / "data" / "f", ns=(t, t))
    os.utime(lab.src / "data" / "empty", ns=(t, t))
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_one(lab, cfg, store)
    assert _restore_refused(cfg, store, number, lab, tmp_path) == ""
    assert os.stat(f"{tmp_path}/out/{lab.src}/data/f").st_mtime < 0


def _as_nobody(tmp_path, cfg, store, number) -> str:
    """`_verify` as user 65534 (who owns the state and the images)."""
    import subprocess

    subprocess.run(["chown", "-R", "65534:65534", tmp_path / "state", tmp_path / "iso"], check=True)
    for d in (tmp_path, *tmp_path.parents):     # the way to it, below /tmp (pytest's are 0700)
        if d in (Path("/"), Path("/tmp")):
            break
        os.chmod(d, os.stat(d).st_mode | 0o055)
    os.setegid(65534)
    os.seteuid(65534)
    try:
        return _verify(cfg, store, number)
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_a_directory_of_mode_0000_verifies_as_a_user_other_than_root(tmp_path):
    """Extracted by a user other than root, a directory of mode 0000 is closed to them: what is in
    it was said missing (or its lstat raised), and the scratch directory could not be removed."""
    import stat

    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user")
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {"closed/in": b"inside", "read-only/in": b"inside"})
    os.chmod(lab.src / "data" / "closed", 0)
    os.chmod(lab.src / "data" / "read-only", 0o500)
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_one(lab, cfg, store)
    why = _as_nobody(tmp_path, cfg, store, number)
    assert why == ""
    assert not any(p.name.startswith("verify-") for p in (tmp_path / "state").rglob("*")), "scratch left"
    assert stat.S_IMODE(os.stat(lab.src / "data" / "closed").st_mode) == 0


def test_a_device_node_verifies_as_a_user_other_than_root(tmp_path):
    """A user other than root cannot make a device node: extracting the disc failed there, and
    every entry after it was said missing. Its kind, mode and owner are taken from the listing; a
    device node changed on the disc still fails it."""
    import stat

    if os.geteuid() != 0:
        pytest.skip("needs root to make a device node and act as another user")
    lab, cfg = _lab(tmp_path)
    os.mknod(lab.src / "data" / "dev", 0o640 | stat.S_IFCHR, os.makedev(1, 3))
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_one(lab, cfg, store)
    assert _as_nobody(tmp_path, cfg, store, number) == ""
    prefix = "/data/loc/" + str(lab.src / "data").lstrip("/")
    os.mknod(tmp_path / "planted", 0o600 | stat.S_IFBLK, os.makedev(7, 0))
    alter(tmp_path / "iso" / f"RAB{number}D01.iso", "-chmod", "0666", f"{prefix}/dev", "--",
          "-map", str(tmp_path / "planted"), f"{prefix}/sub/planted")
    why = _as_nobody(tmp_path, cfg, store, number)
    assert "/dev (mode 0666, backed up 0640)" in why and "/sub/planted" in why and "not in the catalog" in why, why
