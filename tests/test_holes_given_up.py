"""A copy of a base's sparse file that rsync gave up for want of room (rsync_stderr.copy_given_up): the file it sent instead, and lines that only look like rsync's."""

from __future__ import annotations

import os
import subprocess

import pytest


def _sparse(path: bytes, at: int) -> None:
    with open(path, "wb") as f:
        f.truncate(8 << 20)
        f.seek(at)
        f.write(b"data")


def _differences(src: bytes, copy: bytes, kind: str) -> list[str]:
    """fidelity_more.differences; an archive directory keeps no hard links (rsync runs without -H)."""
    from tests import fidelity_more

    return [d for d in fidelity_more.differences(src, copy) if kind == "standard" or not d.startswith("hard-link")]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file another owner")
@pytest.mark.parametrize("kind", ["standard", "archive"])
def test_a_copy_given_up_keeps_every_attribute_links_catalog_and_next_base(tmp_path, tmpfs, kind):
    from rabtui.media import medium_layout
    from tests import fidelity, invariants
    from tests.trees import Lab

    lab = Lab(tmp_path, media_count=1)
    tmpfs(lab.media[0][1], "size=4m")
    # an archive directory is copied without -H: the second name is a file of its own, and two copies
    # given up in one transfer race (rsync's next copy fills the medium while it writes the file it
    # sent for the one before, README): that name is in a directory of its own, a transfer of its own
    dirs = ["data"] if kind == "standard" else ["data", "more"]
    cfg = lab.local([(d, kind) for d in dirs], extra="acls = true\nxattrs = true\n")
    src = os.fsencode(lab.src / "data")
    os.mkdir(os.fsencode(lab.src / dirs[-1]) + b"/sub")
    _sparse(src + b"/disk.img", 1 << 20)
    os.link(src + b"/disk.img", os.fsencode(lab.src / dirs[-1]) + b"/sub/" + b"\xfe" * 255)
    first = lab.backup(cfg, medium_id="m1")
    assert first.status == "completed", first.reason
    os.chmod(src + b"/disk.img", 0o640)
    os.chown(src + b"/disk.img", 65534, 65534)
    os.setxattr(src + b"/disk.img", "user.k", b"v")
    subprocess.run(["setfacl", "-m", "u:65534:r", os.fsdecode(src + b"/disk.img")], check=True)
    second = lab.backup(cfg, medium_id="m1")
    assert (second.status, second.exit_code) == ("completed", 0), second.reason
    assert sum("rsync sent each instead" in m for m in lab.messages()) == len(dirs), lab.messages()
    copies = {d: os.fsencode(medium_layout.backup_data_path(second.path, str(lab.src / d))) for d in dirs}
    for d, copy in copies.items():
        assert _differences(os.fsencode(lab.src / d), copy, kind) == []
    assert fidelity.allocated(copies["data"] + b"/disk.img") < 1 << 20
    assert fidelity.allocated(copies[dirs[-1]] + b"/sub/" + b"\xfe" * 255) < 1 << 20
    store = lab.store()
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store)
    third = lab.backup(cfg, medium_id="m1")
    assert (third.status, third.exit_code) == ("completed", 0), third.reason
    again = os.fsencode(medium_layout.backup_data_path(third.path, os.fsdecode(src)))
    if kind == "standard":     # an archive backup holds only what its union lacked: nothing here
        assert _differences(src, again, kind) == []
        assert os.stat(again + b"/disk.img").st_ino == os.stat(copies["data"] + b"/disk.img").st_ino
    invariants.check_catalog_is_media(cfg, lab.store())
    invariants.check_views_are_media(cfg, lab.store())


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run rsync without its right to read everything")
def test_a_line_imitating_a_copy_given_up_does_not_hide_a_file_left_out(tmp_path):
    """The source's side writes rsync's line for a copy given up (a shell's start-up, a wrapper):
    rsync's exit 23 for a file it could not read still ends the backup with that file named."""
    from tests.trees import Lab, write_files

    lab = Lab(tmp_path, media_count=1)
    wrapper = tmp_path / "rsync-wrapper"
    wrapper.write_text("#!/bin/sh\n"
                       "printf 'rsync: [generator] write \"/m/.disk.img.AbCdEf\": No space left on device (28)\\n' >&2\n"
                       "exec setpriv --bounding-set=-dac_override,-dac_read_search"
                       " --inh-caps=-dac_override,-dac_read_search rsync \"$@\"\n")
    wrapper.chmod(0o755)
    cfg = lab.local([("data", "standard")], extra=f'rsync_path = "{wrapper}"')
    write_files(lab.src / "data", {"open": b"x", "closed": b"secret"})
    os.chmod(lab.src / "data" / "closed", 0)
    done = lab.backup(cfg, medium_id="m1")
    assert done.status == "warnings" and "closed" in done.reason, done.reason


def test_a_copy_given_up_beside_a_directory_copied_again_says_only_that_directory(tmp_path, tmpfs):
    """A directory that was a symlink out of the medium in the base is copied again with no basis
    (its warning); a copy of a base's file given up in the same transfer left nothing out: the
    warning is the directory's, not "some files could not be transferred"."""
    from tests.trees import Lab

    lab = Lab(tmp_path, media_count=1)
    tmpfs(lab.media[0][1], "size=4m")
    cfg = lab.local([("data", "standard")])
    src = lab.src / "data"
    _sparse(os.fsencode(src / "disk.img"), 1 << 20)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", src / "sub")
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    os.unlink(src / "sub")
    (src / "sub").mkdir()
    (src / "sub" / "f").write_bytes(b"f")
    os.chmod(src / "disk.img", 0o600)
    second = lab.backup(cfg, medium_id="m1")
    assert second.status == "warnings" and "out of" in second.reason, second.reason
    assert "could not be transferred" not in second.reason, second.reason
