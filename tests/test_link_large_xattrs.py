"""A symlink's xattr whose name and value take 4,096 bytes or more together (trusted. and security.
ones, which only root sets on a symlink; tmpfs, XFS and btrfs take values up to 64 KiB): the disc
holds it whole (libisofs records it in AAIP), but xorriso 1.5.4 offers no way to read it back:
-getfattr, -getfattr_r, `-exec getfattr`, `-exec get_any_xattr` and `-exec list_extattr` print such
a pair only by its lengths (Xorriso_getfattr: name + value >= SfileadrL), and osirrox extracts a
symlink without setting any xattr on it (Xorriso_tree_restore_node passes over a symlink's
properties). The disc is verified, that xattr compared with the backup by its lengths only, which is said; a
restore from the discs names it, with the reason. Real backup, real xorriso onto
an `images:` drive, on /dev/shm; as root only."""

from __future__ import annotations

import os

import pytest

from rabtui.restore import run as R
from tests.test_checkpoint_deep import no_room_to_extract
from tests.test_disc_verify_metadata import burn_one
from tests.trees import Lab, write_files

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="only root sets xattrs on a symlink")


def _burnt_link(shm, xattrs: dict[str, bytes]):
    """src/data/link, a symlink to the file f, with `xattrs`, backed up and burnt onto the disc
    of a checkpoint: (config, store, src/data, the checkpoint's number). Skipped where the file
    system takes no such xattr on a symlink."""
    lab = Lab(shm, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"f": b"the target"})
    os.symlink("f", data / "link")
    try:
        for name, value in xattrs.items():
            os.setxattr(data / "link", name, value, follow_symlinks=False)
    except OSError as exc:
        pytest.skip(f"{shm} takes no 5,000-byte trusted. xattr on a symlink here: {exc.strerror}")
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    return cfg, store, data, burn_one(lab, cfg, store)


@pytest.mark.parametrize("room", ["extracted", "streamed"])
def test_a_symlink_with_a_long_xattr_is_burnt_and_restored_naming_what_is_not(shm, monkeypatch, room):
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    cfg, store, data, number = _burnt_link(shm, {"trusted.long": b"v" * 5000, "trusted.short": b"kept"})
    said = store.one("SELECT message FROM discs WHERE number=? AND disc=1", (number,))["message"]
    assert "verified, but not checked: the values of 1 xattrs of 1 symlinks" in said and "/link" in said, said
    assert "lengths only" in said and "osirrox" in said, said
    res = R.restore(cfg, store, "loc", str(data), checkpoint=number, to=shm / "out")
    out = shm / "out" / str(data).lstrip("/") / "link"
    assert os.getxattr(out, "trusted.short", follow_symlinks=False) == b"kept"
    said = "\n".join(res.written.problems())
    assert "link" in said and "5000 bytes" in said and "4,096" in said and "osirrox" in said, said


def test_a_long_symlink_xattr_of_another_length_in_the_backup_fails_the_disc(shm):
    from tests.test_disc_verify_metadata import _verify

    cfg, store, data, number = _burnt_link(shm, {"trusted.long": b"v" * 5000})
    backed_up = next((cfg.medium("m1").path / "loc").glob("backup-*")) / "data" / str(data).lstrip("/") / "link"
    os.setxattr(backed_up, "trusted.long", b"w" * 6000, follow_symlinks=False)
    why = _verify(cfg, store, number)
    assert "verification failed" in why and "/link (xattr trusted.long" in why, why
