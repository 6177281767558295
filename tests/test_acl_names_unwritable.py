"""ACLs naming users and groups whose names xorriso takes badly, the names this test's own, given to
each rabtui run through nss_wrapper (libnss-wrapper). One with a space (`dom users`, as sssd or
LDAP give) or a backslash, for which libisofs leaves the whole ACL off the disc when it reads it
itself (a directory's default one stops xorriso), is given to the disc by its id, and verified,
with the backup and without it; one with a comma, which xorriso cannot extract, is refused when the
checkpoint is planned, by name; one not UTF-8 is written and verified. Real backups, real setfacl,
real xorriso onto an `images:` drive."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from rabtui.state.store import Store
from tests.test_login_shells import NSS_WRAPPER
from tests.trees import Lab, write_files


def _rabtui(lab: Lab, tmp_path, lines: dict[str, bytes], *args: str) -> subprocess.CompletedProcess:
    """A rabtui run under a passwd and group holding `lines` too (as `getent` would give them)."""
    lib = next((p for p in NSS_WRAPPER if p and os.path.isfile(p)), None)
    if lib is None:
        pytest.skip("no libnss_wrapper.so (libnss-wrapper; scripts/sysdeps.sh installs it; or NSS_WRAPPER_LIB)")
    for name in ("passwd", "group"):
        if not (tmp_path / name).exists():
            shutil.copy(f"/etc/{name}", tmp_path / name)
            with open(tmp_path / name, "ab") as f:
                f.write(lines.get(name, b""))
    env = {**os.environ, "LD_PRELOAD": lib, "NSS_WRAPPER_PASSWD": str(tmp_path / "passwd"),
           "NSS_WRAPPER_GROUP": str(tmp_path / "group"), "PYTHONPATH": os.getcwd()}
    return subprocess.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args],
                          capture_output=True, text=True, env=env)


def _backed_up(tmp_path, acl: str, dir_acl: str = "") -> Lab:
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"f": 1000, "sub/g": 100})
    os.chmod(lab.src / "data" / "f", 0o644)
    subprocess.run(["setfacl", "--set", acl, str(lab.src / "data" / "f")], check=True)
    if dir_acl:
        subprocess.run(["setfacl", "-m", dir_acl, str(lab.src / "data" / "sub")], check=True)
    assert lab.backup(cfg).status == "completed"
    return lab


def _burnt_and_rebuilt(lab: Lab, tmp_path, lines: dict[str, bytes]) -> bytes:
    """The ACLs of the disc burnt of `lab`'s backup, as xorriso lists them here (by id: no name is
    known without nss_wrapper), once it has been verified with the backup and, the state lost,
    without it."""
    burnt = _rabtui(lab, tmp_path, lines, "checkpoint", "burn", "--yes", "--now")
    assert burnt.returncode == 0 and "Traceback" not in burnt.stderr, burnt.stdout + burnt.stderr
    [iso] = (tmp_path / "iso").glob("*.iso")
    listed = subprocess.run(["xorriso", "-no_rc", "-acl", "on", "-indev", str(iso), "-find", "/", "-exec", "getfacl",
                             "--"], capture_output=True, check=True).stdout
    lab.lose_database()
    rebuilt = _rabtui(lab, tmp_path, lines, "rebuild-state")
    discs = [dict(r) for r in Store(lab.state).all("SELECT state, message FROM discs")]
    assert {d["state"] for d in discs} == {"verified"}, (discs, rebuilt.stdout, rebuilt.stderr)
    return listed


@pytest.mark.parametrize("name", [b"dom users", b"back\\slash"])
def test_an_acl_naming_a_user_whose_name_libacl_escapes_is_written_by_its_id_and_verified(tmp_path, name):
    lab = _backed_up(tmp_path, "u::rw,u:54321:r,g::r,m::r,o::r", "u:54321:rx,d:u:54321:rx")
    listed = _burnt_and_rebuilt(lab, tmp_path, {"passwd": name + b":x:54321:54321::/nonexistent:/usr/sbin/nologin\n"})
    assert listed.count(b"user:54321:r--") == 1 and listed.count(b"user:54321:r-x") == 2, listed


def test_an_acl_naming_a_group_whose_name_is_not_utf8_is_written_and_verified(tmp_path):
    lab = _backed_up(tmp_path, "u::rw,g::r,g:54331:r,m::r,o::r")
    assert b"group:54331:r--" in _burnt_and_rebuilt(lab, tmp_path, {"group": b"gr\xfcppe:x:54331:\n"})


def test_an_acl_naming_a_user_whose_name_has_a_comma_is_refused_when_planned_by_name(tmp_path):
    lab = _backed_up(tmp_path, "u::rw,u:54321:r,g::r,m::r,o::r")
    lines = {"passwd": b"dom,users:x:54321:54321::/nonexistent:/usr/sbin/nologin\n"}
    burnt = _rabtui(lab, tmp_path, lines, "checkpoint", "burn", "--yes", "--now")
    out = burnt.stdout + burnt.stderr
    assert burnt.returncode != 0 and "Traceback" not in out, out
    assert "data: 1 entry" in out and "'f': its ACL names the user 'dom,users' (54321)" in out, out
    assert not list((tmp_path / "iso").glob("*.iso")), out


def test_an_acl_naming_a_user_by_id_beside_an_xattr_too_long_for_a_list_is_refused_when_planned(shm):
    """The entry given its ACL by id is mapped bare and given all its xattrs from lists, whose lines
    take no value over 16 KiB (xorriso.too_long): a 20,000-byte user. value beside such an ACL is
    refused as the plan is made, by name, as beside an empty value; it stopped the burn. On
    /dev/shm, which takes such a value (the ext4 of /tmp does not)."""
    try:
        (shm / "probe").write_bytes(b"")
        os.setxattr(shm / "probe", "user.big", b"v" * 20_000)
    except OSError as exc:
        pytest.skip(f"/dev/shm takes no 20,000-byte xattr value here: {exc.strerror}")
    lab = Lab(shm, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"f": 1000, "g": 100})
    subprocess.run(["setfacl", "--set", "u::rw,u:54321:r,g::r,m::r,o::r", str(lab.src / "data" / "f")], check=True)
    os.setxattr(lab.src / "data" / "f", "user.big", b"v" * 20_000)
    assert lab.backup(cfg).status == "completed"
    lines = {"passwd": b"dom users:x:54321:54321::/nonexistent:/usr/sbin/nologin\n"}
    burnt = _rabtui(lab, shm, lines, "checkpoint", "burn", "--yes", "--now")
    out = burnt.stdout + burnt.stderr
    assert burnt.returncode != 0 and "Traceback" not in out, out
    assert "data: 1 entry" in out and "'f': its xattr user.big (20000 bytes) takes" in out, out
    assert "names a user or group by its id" in out, out
    assert not list((shm / "iso").glob("*.iso")), out
    assert not Store(lab.state).all("SELECT * FROM checkpoints"), out
