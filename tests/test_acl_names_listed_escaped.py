"""A file's or directory's ACL that names a user or group whose name is not ASCII (UTF-8 names that
LDAP, sssd or `useradd --badname` give): xorriso lists it escaped (`group:gr\\303\\274ppe:r--`, its
-backslash_codes), the kernel's system.posix_acl_access beside it read into the name itself. The disc
is right: its verification, with the backup (as burnt) and without it (rebuild-state, comparing the
ACL the disc keeps with the xattr the plan summed), passes it. The names are this test's own, given
to each rabtui run through nss_wrapper (libnss-wrapper); real backups, real setfacl, real xorriso
onto an `images:` drive."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from rabtui.state.store import Store
from tests.test_login_shells import NSS_WRAPPER
from tests.trees import Lab, write_files

NAMES = {"passwd": "\u00fc-ser:x:54321:54321::/nonexistent:/usr/sbin/nologin",
         "group": "gr\u00fcppe:x:54331:"}
ACL = "u::rw,u:54321:r,g::r,g:54331:r,m::r,o::r"


def _rabtui(lab: Lab, tmp_path, *args: str) -> subprocess.CompletedProcess:
    """A rabtui run under a passwd and group naming the ACLs' ids (as `getent` would)."""
    lib = next((p for p in NSS_WRAPPER if p and os.path.isfile(p)), None)
    if lib is None:
        pytest.skip("no libnss_wrapper.so (libnss-wrapper; scripts/sysdeps.sh installs it; or NSS_WRAPPER_LIB)")
    for name, line in NAMES.items():
        if not (tmp_path / name).exists():
            shutil.copy(f"/etc/{name}", tmp_path / name)
            with open(tmp_path / name, "a", encoding="utf-8") as f:
                f.write(line + "\n")
    env = {**os.environ, "LD_PRELOAD": lib, "NSS_WRAPPER_PASSWD": str(tmp_path / "passwd"),
           "NSS_WRAPPER_GROUP": str(tmp_path / "group"), "PYTHONPATH": os.getcwd()}
    return subprocess.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args],
                          capture_output=True, text=True, env=env)


def test_acls_naming_ids_whose_names_are_not_ascii_pass_verification_with_the_backup_and_without(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"f": 1000, "sub/g": 100})
    os.chmod(lab.src / "data" / "f", 0o644)
    subprocess.run(["setfacl", "--set", ACL, str(lab.src / "data" / "f")], check=True)
    subprocess.run(["setfacl", "-m", "g:54331:rx,d:g:54331:rx", str(lab.src / "data" / "sub")], check=True)
    assert lab.backup(cfg).status == "completed"
    burnt = _rabtui(lab, tmp_path, "checkpoint", "burn", "--yes", "--now")
    assert burnt.returncode == 0, burnt.stdout + burnt.stderr
    [iso] = (tmp_path / "iso").glob("*.iso")
    listed = subprocess.run(["xorriso", "-no_rc", "-acl", "on", "-indev", str(iso), "-find", "/", "-exec", "getfacl",
                             "--"], capture_output=True, check=True).stdout
    assert b"user:54321:r--" in listed and b"group:54331:r--" in listed    # the ids, held as this machine knows none
    lab.lose_database()
    rebuilt = _rabtui(lab, tmp_path, "rebuild-state")
    discs = [dict(r) for r in Store(lab.state).all("SELECT state, message FROM discs")]
    assert {d["state"] for d in discs} == {"verified"}, (discs, rebuilt.stdout, rebuilt.stderr)
