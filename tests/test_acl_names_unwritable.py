"""ACLs naming users and groups whose names xorriso takes badly, the names this test's own, given to
each rabtui run through nss_wrapper (libnss-wrapper): one with a space (`dom users`, as sssd or LDAP
give), for which libisofs leaves the whole ACL off the disc, is refused when the checkpoint is
planned, by name; one not UTF-8 is written and verified, with the backup and without it. Real
backups, real setfacl, real xorriso onto an `images:` drive."""

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


def _backed_up(tmp_path, acl: str) -> tuple[Lab, object]:
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"f": 1000, "g": 100})
    os.chmod(lab.src / "data" / "f", 0o644)
    subprocess.run(["setfacl", "--set", acl, str(lab.src / "data" / "f")], check=True)
    assert lab.backup(cfg).status == "completed"
    return lab, cfg


def test_an_acl_naming_a_user_whose_name_has_a_space_is_refused_when_planned_by_name(tmp_path):
    lab, _ = _backed_up(tmp_path, "u::rw,u:54321:r,g::r,m::r,o::r")
    lines = {"passwd": b"dom users:x:54321:54321::/nonexistent:/usr/sbin/nologin\n"}
    burnt = _rabtui(lab, tmp_path, lines, "checkpoint", "burn", "--yes", "--now")
    out = burnt.stdout + burnt.stderr
    assert burnt.returncode != 0 and "Traceback" not in out, out
    assert "'dom users' (54321)" in out and "ACL off the disc" in out and "data: 1 entry" in out and "'f'" in out, out
    assert not list((tmp_path / "iso").glob("*.iso")), out


def test_an_acl_naming_a_group_whose_name_is_not_utf8_is_written_and_verified(tmp_path):
    lab, _ = _backed_up(tmp_path, "u::rw,g::r,g:54331:r,m::r,o::r")
    lines = {"group": b"gr\xfcppe:x:54331:\n"}
    burnt = _rabtui(lab, tmp_path, lines, "checkpoint", "burn", "--yes", "--now")
    assert burnt.returncode == 0 and "Traceback" not in burnt.stderr, burnt.stdout + burnt.stderr
    [iso] = (tmp_path / "iso").glob("*.iso")
    listed = subprocess.run(["xorriso", "-no_rc", "-acl", "on", "-indev", str(iso), "-find", "/", "-exec", "getfacl",
                             "--"], capture_output=True, check=True).stdout
    assert b"group:54331:r--" in listed
    lab.lose_database()
    rebuilt = _rabtui(lab, tmp_path, lines, "rebuild-state")
    discs = [dict(r) for r in Store(lab.state).all("SELECT state, message FROM discs")]
    assert {d["state"] for d in discs} == {"verified"}, (discs, rebuilt.stdout, rebuilt.stderr)
