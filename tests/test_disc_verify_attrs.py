"""A disc passes verification only when it holds the ACLs and xattrs that were backed up, and each
directory's own mode, owner and time. Real backups, real xorriso onto an `images:` drive; the
images are then altered with xorriso itself (alter: the MD5s made anew)."""

from __future__ import annotations

import os

import pytest

from rabtui.checkpoint import disc_listing, verify_listing
from tests.fidelity import ACCESS_ACL, unsummed_said
from tests.test_checkpoint_deep import no_room_to_extract
from tests.test_disc_verify_metadata import MTIME, _verify, alter, burn_one, burnt_fixtures
from tests.trees import Lab, closed, made_once, write_files


def _lab(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"f": b"content of f", "sub/g": b"content of g", "plain": b"plain"})
    os.setxattr(data / "f", "user.comment", b"kept by the backup")
    os.setxattr(data / "f", "system.posix_acl_access", ACCESS_ACL)
    os.chmod(data / "sub", 0o750)
    os.utime(data / "sub", (MTIME, MTIME))
    os.utime(data / "f", (MTIME, MTIME))
    return lab, cfg


_sandbox_made, burnt = burnt_fixtures(_lab)


ROOMS = ["extracted", "streamed"]


@pytest.mark.parametrize("room", ROOMS)
def test_an_untouched_disc_with_acls_and_xattrs_verifies(burnt, monkeypatch, room):
    _lab, cfg, store, number, _iso, _prefix = burnt
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    assert _verify(cfg, store, number) == ""


@pytest.mark.parametrize("room", ROOMS)
@pytest.mark.parametrize("change, named", [
    (lambda p: ["-setfattr", "user.comment", "changed", f"{p}/f", "--"], "/f (xattr"),
    (lambda p: ["-setfattr", "user.comment", "", f"{p}/f", "--"], "/f (xattr"),
    (lambda p: ["-setfattr", "user.planted", "x", f"{p}/plain", "--"], "/plain (xattr"),
    (lambda p: ["-setfacl", "u::rw-,u:4321:r-x,g::r--,g:2345:rw-,m::rwx,o::r--", f"{p}/f", "--"], "/f (ACL"),
    (lambda p: ["-setfacl", "", f"{p}/f", "--", "-chmod", "0674", f"{p}/f", "--"], "/f (ACL"),
    (lambda p: ["-chmod", "0777", f"{p}/sub", "--"], "/sub (mode 0777, backed up 0750)"),
    (lambda p: ["-chown", "4321", f"{p}/sub", "--"], "/sub (owner 4321:"),

])
def test_a_disc_that_lost_what_the_backup_holds_fails_it_by_name(burnt, monkeypatch, room, change, named):
    _lab, cfg, store, number, iso, prefix = burnt
    alter(iso, *change(prefix))
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    why = _verify(cfg, store, number)
    assert "verification failed" in why and named in why, why


def test_the_listing_of_a_verification_looks_for_no_acl_and_a_changed_acl_still_fails_it(burnt, monkeypatch):
    """Read back as a stream, the disc's entries are listed (verify_listing.py): its first run names
    the directories only, not the entries with an ACL as a restore's does; the ACLs are compared
    from their own listing (xorriso.attrs_argv), which still finds one changed on the disc."""
    _lab, cfg, store, number, iso, prefix = burnt
    runs: list[list[str]] = []
    real = verify_listing.disc_tree.run
    monkeypatch.setattr(verify_listing.disc_tree, "run", lambda argv, **k: runs.append(argv) or real(argv, **k))
    no_room_to_extract(monkeypatch)
    assert _verify(cfg, store, number) == ""
    names = [argv for argv in runs if argv[-5:] == ["-find", "/", "-type", "d", "--"]]
    assert len(names) == 1 and "-has_acl" not in names[0] and disc_listing.ACL_MARK.decode() not in names[0], runs
    alter(iso, "-setfacl", "u::rw-,u:4321:r-x,g::r--,g:2345:rw-,m::rwx,o::r--", f"{prefix}/f", "--")
    why = _verify(cfg, store, number)
    assert "verification failed" in why and "/f (ACL" in why, why


@pytest.mark.parametrize("room, named", [("extracted", "(mtime 2011-01-01 00:00:00 UTC, backed up 2020-09-13"),
                                         ("streamed", "(mtime Jan 1 2011, backed up 2020-09-13 12:26:40 UTC)")])
@pytest.mark.parametrize("entry", ["sub", "f"])
def test_an_entry_whose_time_differs_on_the_disc_fails_it_by_name(burnt, monkeypatch, room, named, entry):
    """Streamed, a time is compared as the disc's listing shows it: to the day here (to the minute
    for a recent one)."""
    _lab, cfg, store, number, iso, prefix = burnt
    alter(iso, "-alter_date", "m", "Jan 01 00:00:00 2011", f"{prefix}/{entry}", "--")
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    why = _verify(cfg, store, number)
    assert "verification failed" in why and f"/{entry} {named}" in why, why


def test_streamed_a_recent_time_is_compared_to_the_minute(burnt, monkeypatch):
    import time

    _lab, cfg, store, number, iso, prefix = burnt
    when = time.strftime("%b %d %H:%M:%S %Y", time.gmtime(time.time() - 3 * 86400))
    alter(iso, "-alter_date", "m", when, f"{prefix}/plain", "--")
    no_room_to_extract(monkeypatch)
    why = _verify(cfg, store, number)
    assert "verification failed" in why and "/plain (mtime " in why, why


def test_without_the_medium_a_verification_says_what_it_did_not_check(burnt):
    """`checkpoint verify` later, the backup's medium gone: a directory's mode changed on the disc
    cannot be told from the catalog, which holds no directory's own metadata nor any ACL or xattr.
    The disc passes what the catalog holds, and the result, its exit code and the disc's record
    say what was not checked; it is not called verified as a whole. What the catalog holds is
    still compared: a file's mode changed fails the disc."""
    from rabtui.checkpoint import run
    from rabtui.errors import EXIT_WARNINGS
    from rabtui.events import READY, SKIP, ScriptedPrompter
    import threading

    lab, cfg, store, number, iso, prefix = burnt
    alter(iso, "-chmod", "0777", f"{prefix}/sub", "--")
    media = [p for p in lab.tmp.iterdir() if p.name.startswith("m")]
    for m in media:
        m.rename(m.with_name(m.name + "-away"))
    seen = []
    out = run.verify_checkpoint(cfg, store, number, disc=1, emit=seen.append, cancel=threading.Event(),
                                prompter=ScriptedPrompter([READY]))
    assert out.verified == [1] and out.exit_code == EXIT_WARNINGS, out.message
    said = f"not checked: {unsummed_said()}the mode, owner and time of its directories"
    assert said in out.message and "not at hand" in out.message, out.message
    assert "discs 1 verified" not in out.message and "disc 1 verified" not in out.message, out.message
    record = store.one("SELECT state, message FROM discs WHERE number=? AND disc=1", (number,))
    assert record["state"] == "verified" and said in record["message"], record["message"]
    assert any(said in (e.message or "") for e in seen)

    alter(iso, "-chmod", "0600", f"{prefix}/f", "--")
    prompter = ScriptedPrompter([READY, SKIP])
    out = run.verify_checkpoint(cfg, store, number, disc=1, emit=lambda e: None, cancel=threading.Event(),
                                prompter=prompter)
    assert out.verified == [] and "/f (mode 0600, backed up 0674)" in prompter.asked[1].text


@pytest.mark.parametrize("room", ROOMS)
def test_without_the_medium_an_xattr_not_as_summed_is_said_so_not_as_changed_on_the_medium(burnt, monkeypatch,
                                                                                         room):
    """Every medium away, a file's xattr changed on the disc differs from the sum the plan recorded:
    no medium was read, so nothing is said of the backup there, nor a rewrite refused for it."""
    lab, cfg, store, number, iso, prefix = burnt
    alter(iso, "-setfattr", "user.comment", "changed on the disc", f"{prefix}/f", "--")
    for m in [p for p in lab.tmp.iterdir() if p.name.startswith("m")]:
        m.rename(m.with_name(m.name + "-away"))
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    why = _verify(cfg, store, number)
    assert "verification failed" in why, why
    assert "/f (its xattrs on the disc are not those recorded when the checkpoint was planned)" in why, why
    assert "on the medium" not in why and "medium may be" not in why, why


def test_the_xattrs_of_a_file_with_a_255_byte_non_utf8_name_are_compared(tmp_path):
    from tests.test_checkpoint_deep import _name

    odd = _name(7)
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("data", "standard")])
    write_files(lab.src / "data", {b"d/" + odd: b"odd name"})
    path = os.path.join(os.fsencode(lab.src / "data" / "d"), odd)
    os.setxattr(path, "user.comment", b"\x00\n\xff kept")
    os.setxattr(path, "system.posix_acl_access", ACCESS_ACL)
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_one(lab, cfg, store)
    iso = tmp_path / "iso" / f"RAB{number}D01.iso"
    alter(iso, "-setfattr", "user.comment", "changed",
          "/data/loc/" + str(lab.src / "data").lstrip("/") + "/d/" + os.fsdecode(odd), "--")
    why = _verify(cfg, store, number)
    assert "verification failed" in why and "(xattr user.comment differs from the backup's)" in why, why


def test_the_xattrs_of_a_file_whose_path_on_the_medium_passes_4096_bytes_are_compared(tmp_path):
    """Its path on the medium is longer than one call may name (4,127 bytes): it is reached part by
    part."""
    from tests.test_checkpoint_deep import _deep_tree

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700", [("data", "standard")])
    (lab.src / "data" / "deep").mkdir(parents=True)
    deepest = _deep_tree(lab.src / "data" / "deep", 4045)    # on the medium: past 4,096 bytes
    fd = os.open(lab.src / "data" / "deep", os.O_RDONLY | os.O_DIRECTORY)
    try:
        parent, name = os.path.split(deepest)
        for part in parent.split(b"/"):
            nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        os.setxattr(b"/proc/self/fd/%d/%s" % (fd, name), "user.comment", b"deep")
    finally:
        os.close(fd)
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_one(lab, cfg, store)
    iso = tmp_path / "iso" / f"RAB{number}D01.iso"
    prefix = b"/data/loc/" + os.fsencode(lab.src / "data").lstrip(b"/")
    alter(iso, "-setfattr", "user.comment", "changed", os.fsdecode(prefix + b"/deep/" + deepest), "--")
    why = _verify(cfg, store, number)
    assert "verification failed" in why and "(xattr user.comment differs from the backup's)" in why, why


def _cut(tmp_path):
    """A file with an xattr and an ACL cut into two parts on two discs; its first part's path on
    disc 1."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"big.bin": 6_000_000, "plain": b"plain"})
    os.setxattr(data / "big.bin", "user.comment", b"kept on each part")
    try:
        os.setxattr(data / "big.bin", "system.posix_acl_access", ACCESS_ACL)
    except OSError as exc:
        pytest.skip(f"the test file system takes no POSIX ACLs: {exc.strerror}")
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_one(lab, cfg, store)
    assert store.one("SELECT MAX(parts) FROM disc_files")[0] == 2
    iso = tmp_path / "iso" / f"RAB{number}D01.iso"
    return cfg, store, number, iso, "/data/loc/" + str(data).lstrip("/") + "/big.bin.part01-of-02"


@pytest.fixture(scope="module")
def _cut_made(tmp_path_factory):
    def make(live):
        _cfg, store, number, _iso, part = _cut(live)
        store.close()
        closed(Lab(live, media_count=1))
        return number, part

    yield from made_once(tmp_path_factory, make)


@pytest.fixture
def cut(_cut_made):
    """What _cut makes, anew for each test (made once for the module), in lab.tmp."""
    (number, part), made = _cut_made
    lab = Lab(made.anew(), media_count=1)
    return lab.load(), lab.store(), number, lab.tmp / "iso" / f"RAB{number}D01.iso", part


@pytest.mark.parametrize("room", ROOMS)
@pytest.mark.parametrize("change, named", [
    (None, None),
    (lambda p: ["-setfattr", "user.comment", "changed", p, "--"], "(xattr user.comment differs from the backup's)"),
    (lambda p: ["-setfattr", "-user.comment", "", p, "--"], "(xattr user.comment missing on the disc)"),
    (lambda p: ["-setfattr", "user.planted", "x", p, "--"], "(xattr user.planted not backed up)"),
    (lambda p: ["-setfacl", "", p, "--", "-chmod", "0674", p, "--"], "(ACL missing on the disc)"),
])
def test_a_part_of_a_cut_file_is_verified_with_the_acl_and_xattrs_of_the_file(cut, monkeypatch, room, change,
                                                                             named):
    """Each part carries the file's ACL and xattrs: a disc whose part holds them verifies, one
    whose part lost or changed one fails, naming the part."""
    cfg, store, number, iso, part = cut
    if change is not None:
        alter(iso, *change(part))
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    why = _verify(cfg, store, number)
    if named is None:
        assert why == ""
    else:
        assert "verification failed" in why and f"big.bin.part01-of-02 {named}" in why, why


@pytest.mark.parametrize("room", ROOMS)
def test_directories_with_an_access_acl_verify(tmp_path, monkeypatch, room):
    """A directory's access ACL whose mask gives the group more than its `group::` entry (as
    `setfacl -m u:ID:rwx` leaves it): osirrox extracts such a directory with the group bits of
    `group::`, the mask cut down to them; the disc holds it right, and verifies."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"acl/f": b"in a directory with an ACL", "setgid/f": b"and here"})
    (data / "empty").mkdir()
    for d in ("acl", "setgid", "empty"):
        os.setxattr(data / d, "system.posix_acl_access", ACCESS_ACL)
    os.chmod(data / "setgid", 0o2674)
    os.chmod(data / "acl", 0o774)
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    number = burn_one(lab, cfg, store)
    assert _verify(cfg, store, number) == ""


def test_what_the_backup_on_the_medium_no_longer_holds_is_said_not_checked(burnt):
    """The medium is there, but the backup no longer holds a directory the disc was written from
    (here removed by hand, as a damaged medium may lose it): its own metadata and the ACLs and
    xattrs of what was in it are not compared, and the verification says so by name."""
    import shutil
    import threading
    from pathlib import Path

    from rabtui.checkpoint import run
    from rabtui.errors import EXIT_WARNINGS
    from rabtui.events import READY, ScriptedPrompter
    from rabtui.media import medium_layout

    lab, cfg, store, number, _iso, prefix = burnt
    backup = store.one("SELECT path FROM backups")["path"]
    top = Path(medium_layout.backup_data_path(backup, str(lab.src / "data")))
    was = os.stat(top)
    shutil.rmtree(top / "sub")
    os.utime(top, ns=(was.st_atime_ns, was.st_mtime_ns))     # the directory that held it as it was
    out = run.verify_checkpoint(cfg, store, number, disc=1, emit=lambda e: None, cancel=threading.Event(),
                                prompter=ScriptedPrompter([READY]))
    assert out.verified == [1] and out.exit_code == EXIT_WARNINGS, out.message
    assert f"the ACLs and xattrs of 1 entry, e.g. {prefix}/sub/g: the backup no longer holds them" in out.message
    assert f"the mode, owner and time of 1 directory, e.g. {prefix}/sub: no longer in the backup" \
        in out.message, out.message
