"""rebuild-state verifies each disc image again against the state copy on the discs, which holds
each entry's xattr sum (checkpoint/xattr_sum.py): the xattrs and the access ACL of each entry but
a directory are compared with it, as a burn's verification does, and only what the sums leave out
is said as not checked. Real backups, real xorriso onto an `images:` drive."""

from __future__ import annotations

import os
import subprocess

import pytest

from rabtui.cli import main
from rabtui.state.store import Store
from tests.fidelity import is_root, unsummed_said
from tests.test_disc_verify_metadata import alter
from tests.trees import Lab, write_files

ACL = "u::rw,u:54321:r,g::r,m::r,o::r"


def _burnt(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"f": 1000, "g": 500})
    os.chmod(lab.src / "data" / "f", 0o644)
    os.setxattr(lab.src / "data" / "f", "user.x", b"as backed up")
    if is_root():
        os.setxattr(lab.src / "data" / "f", "trusted.x", b"as backed up")
    subprocess.run(["setfacl", "--set", ACL, str(lab.src / "data" / "f")], check=True)
    assert lab.backup(cfg).status == "completed"
    argv = ["--config", str(lab.config_path)]
    assert main([*argv, "checkpoint", "burn", "--yes", "--now"]) == 0
    [iso] = (tmp_path / "iso").glob("*.iso")
    found = subprocess.run(["xorriso", "-no_rc", "-indev", str(iso), "-find", "/", "-name", "f", "-type", "f"],
                           capture_output=True, check=True, text=True).stdout.split()
    [path] = [p.strip("'") for p in found if p.strip("'").endswith("/data/f")]
    lab.lose_database()
    return lab, argv, iso, path


def test_a_rebuilt_disc_has_its_entries_xattrs_and_acls_checked_against_the_sums(tmp_path, capsys):
    lab, argv, _iso, _path = _burnt(tmp_path)
    capsys.readouterr()
    assert main([*argv, "rebuild-state"]) in (0, 3)
    out = capsys.readouterr().out
    said = f"but not checked: {unsummed_said()}the mode, owner and time of its directories"
    assert said in out, out
    assert "the ACLs and xattrs of its entries" not in out, out
    assert {r["state"] for r in Store(lab.state).all("SELECT state FROM discs")} == {"verified"}


# how the disc's copy of data/f is changed, and what its verification says of it
CHANGES = {
    "xattr": (("-setfattr", "user.x", "changed on the disc"),
              "its xattrs on the disc are not those recorded when the checkpoint was planned"),
    # (only root reads them, and writes them onto a disc)
    "trusted": (("-setfattr", "trusted.x", "changed on the disc"),
                "its xattrs on the disc are not those recorded when the checkpoint was planned"),
    # the ACL xorriso keeps apart from the system.posix_acl_access xattr beside it, which it leaves
    "acl": (("-setfacl", "u::rw-,u:54322:r--,g::r--,m::r--,o::r--"),
            "its ACL on the disc is not the one its xattrs hold, recorded when the checkpoint was planned"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_disc_holding_other_xattrs_or_another_acl_than_summed_fails_rebuild_states_verification(
        tmp_path, capsys, change):
    if change == "trusted" and not is_root():
        pytest.skip("only root reads trusted.* xattrs")
    lab, argv, iso, path = _burnt(tmp_path)
    commands, said = CHANGES[change]
    alter(iso, *commands, path, "--")
    capsys.readouterr()
    main([*argv, "rebuild-state"])
    out = capsys.readouterr().out
    store = Store(lab.state)
    [disc] = store.all("SELECT state, message FROM discs")
    assert disc["state"] == "failed", (disc["message"], out)
    assert f"data/f ({said})" in disc["message"], disc["message"]

