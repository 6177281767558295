"""Media on FAT file systems, FUSE-mounted from small images (this kernel may have no vfat or exFAT
driver): vfat keeps times to 2 s, exFAT to the second, neither hard links, symlinks nor owners. A
medium filled on ext4 or tmpfs and copied onto one keeps a label saying nanoseconds until its next
backup probes it again: the checkpoint plan and a restore, which only read the medium, tell from the
label file's own time that the file system lost the fractions, and compare no times there (vfat's
would refuse every file of an odd second). A medium made on exFAT takes backups (hard-linked names
each a copy), checkpoints and restores; what it cannot do (an archive directory's union, a mount open
to all, fusefat's missing chmod) is said in words to act on. Real rsync, cp, xorriso, fusefat and
exfat-fuse. (fusefat loses a file's time on rename, as rsync's copies make them: copies onto it here
are cp's.)"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from rabtui.checkpoint import questions
from rabtui.cli import main
from rabtui.events import ABORT, READY
from tests.test_checkpoint import _burn, _record
from tests.test_medium_times_as_saved import _as_saved as as_saved, _backed_up as backed_up
from tests.trees import Lab, burn_due, write_files

# fusefat sets no time on its root directory (it drops the mount): a copy goes in entry by entry
_MOUNTERS = {"vfat": ("mkfs.vfat", "fusefat"), "exfat": ("mkfs.exfat", "mount.exfat-fuse")}


def _fuse_missing(kind: str) -> str | None:
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse here"
    lacking = [tool for tool in (*_MOUNTERS[kind], "fusermount") if shutil.which(tool) is None]
    if lacking:
        return f"no {' or '.join(lacking)} here (scripts/sysdeps.sh installs dosfstools, exfatprogs, fusefat, exfat-fuse)"
    if kind == "exfat" and os.geteuid() != 0:
        return "exfat-fuse mounts a loop device: root only"
    return None


@contextlib.contextmanager
def fat_mounted(where: Path, kind: str, umask: str = "077") -> Iterator[Path]:
    """A new 16 MiB `kind` (vfat or exfat) file system FUSE-mounted at the empty directory `where`,
    exFAT's closed to other users by `umask`, its image beside it; unmounted (its loop device
    detached) at the end."""
    if why := _fuse_missing(kind):
        pytest.skip(why)
    make, mounter = _MOUNTERS[kind]
    image = where.parent / f"{where.name}.{kind}"
    with open(image, "wb") as f:
        f.truncate(16 << 20)
    subprocess.run([make, str(image)], check=True, capture_output=True)
    loop = None
    try:
        if kind == "vfat":
            argv = [mounter, "-o", "rw+", str(image), str(where)]
        else:
            loop = subprocess.run(["losetup", "-f", "--show", str(image)], check=True, capture_output=True,
                                  text=True).stdout.strip()
            argv = [mounter, "-o", f"umask={umask}", loop, str(where)]
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount {kind} here: {done.stderr.strip()}")
        try:
            yield where
        finally:
            subprocess.run(["fusermount", "-u", str(where)], capture_output=True)
    finally:
        if loop:
            subprocess.run(["losetup", "-d", loop], capture_output=True)
        image.unlink()


# odd seconds and fractions: vfat holds each at the even second before it
TIMES = {f"f{i}": 1_700_000_000_000_000_000 + i * 1_000_000_000 + 123_456_789 for i in range(4)}


def test_a_medium_copied_onto_vfat_is_planned_and_restored_whole(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg, data = backed_up(lab, TIMES)
    medium = lab.media[0][1]
    old = medium.rename(tmp_path / "old-disk")
    medium.mkdir()
    with fat_mounted(medium, "vfat"):
        copied = subprocess.run(["cp", "-r", "--preserve=timestamps", *map(str, old.iterdir()), f"{medium}/"],
                                capture_output=True, text=True)
        assert copied.returncode == 0, copied.stderr
        assert os.stat(next(medium.rglob("f1"))).st_mtime_ns == TIMES["f0"] // 10**9 * 10**9
        as_saved(lab, cfg, data, list(TIMES))      # the plan refused f1 and f3 as written into


def test_each_name_of_hard_linked_files_backed_up_onto_exfat_comes_back(tmp_path):
    """exFAT holds no hard links: a backup there keeps each name of a group as a copy of its own
    (rsync -H kept one name and failed the others, every backup, a restore then without them)."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"first": b"linked" * 100, "alone": b"alone"})
    os.link(data / "first", data / "second")
    with fat_mounted(lab.media[0][1], "exfat"):
        for _ in range(2):       # the second backup has the first as its --link-dest
            made = lab.backup(cfg)
            assert made.status == "completed", made.reason
        out = tmp_path / "out"
        assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(out)]) == 0
        restored = out / str(data).lstrip("/")
        assert {p.name: p.read_bytes() for p in restored.iterdir()} == {
            "first": b"linked" * 100, "second": b"linked" * 100, "alone": b"alone"}


def test_an_archive_directory_on_exfat_fails_saying_the_medium_holds_no_hard_links(tmp_path):
    """Its union is hard links into the backups: each backup keeps its data (restorable), fails, and
    says why in words an operator can act on, not link(2)'s bare "Operation not permitted"."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("photos", "archive")])
    write_files(lab.src / "photos", {"a.jpg": b"a" * 100})
    with fat_mounted(lab.media[0][1], "exfat"):
        made = lab.backup(cfg)
        assert made.status == "failed", made.reason
        assert "holds no hard links" in made.reason and "Linux file system" in made.reason, made.reason
        out = tmp_path / "out"
        photos = lab.src / "photos"
        assert main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--to", str(out)]) == 0
        assert (out / str(photos / "a.jpg").lstrip("/")).read_bytes() == b"a" * 100


def test_an_exfat_medium_open_to_all_is_refused_saying_how_to_mount_it(tmp_path, capsys):
    """exFAT keeps no owners nor modes (chmod does nothing there): the way to close it is the mount's."""
    lab = Lab(tmp_path, media_count=1)
    lab.with_discs("4MiB")
    write_files(lab.src / "data", {"a": b"a"})
    with fat_mounted(lab.media[0][1], "exfat", umask="000"):
        assert main(["--config", str(lab.config_path), "backup", "loc"]) == 1
        said = capsys.readouterr()
        assert "uid= and gid= of this user and umask=077" in said.out + said.err


def test_a_checkpoint_from_a_medium_on_exfat_is_written_verified_and_restored(tmp_path):
    """FUSE lists no xattrs there (ENOTSUP), which libisofs took for a file it could not read,
    aborting every disc: the medium's entries are mapped without reading them."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"a": b"a" * 100, "sub/b": b"b"})
    with fat_mounted(lab.media[0][1], "exfat"):
        assert lab.backup(cfg).status == "completed"
        number = burn_due(cfg, lab.store(), {"*"}, verified=True)
    out = tmp_path / "out"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(out),
                 "--checkpoint", str(number)]) == 0
    restored = out / str(data).lstrip("/")
    assert ((restored / "a").read_bytes(), (restored / "sub" / "b").read_bytes()) == (b"a" * 100, b"b")


def test_a_vfat_medium_that_refuses_chmod_is_refused_saying_so(tmp_path, capsys):
    """fusefat implements no chmod: each backup failed at step 3 writing backup.json ("Operation not
    permitted"), the medium labelled already; it is refused before, naming what it lacks, and so is
    its labelling by `media label`."""
    lab = Lab(tmp_path, media_count=1)
    lab.with_discs("4MiB")
    write_files(lab.src / "data", {"a": b"a"})
    medium = lab.media[0][1]
    with fat_mounted(medium, "vfat"):
        assert main(["--config", str(lab.config_path), "backup", "loc"]) == 1
        said = capsys.readouterr()
        assert "refuses to set a file's mode" in said.out + said.err
        assert os.listdir(medium) == []
        # nor labelled by hand, to be refused by every backup after
        assert main(["--config", str(lab.config_path), "media", "label", "m1"]) == 1
        said = capsys.readouterr()
        assert "refuses to set a file's mode" in said.out + said.err
        assert os.listdir(medium) == []


def test_a_vfat_disk_labelled_as_a_medium_is_not_taken_over_by_force(tmp_path, capsys):
    """A vfat disk (fusefat: no chmod) holding an earlier disk's label of medium m1: `media label m1
    --force` took it over as m1 ("from now on", exit 0), each backup after failing at step 3; it is refused
    as a disk labelled anew is, its label left as it was."""
    lab = Lab(tmp_path, media_count=1)
    backed_up(lab, TIMES)
    medium = lab.media[0][1]
    label = (medium / ".rabtui-medium").read_bytes()
    medium.rename(tmp_path / "first-disk")      # to the drawer; a new disk becomes m1
    medium.mkdir()
    assert main(["--config", str(lab.config_path), "media", "label", "m1", "--force"]) == 0
    medium.rename(tmp_path / "second-disk")
    medium.mkdir()
    with fat_mounted(medium, "vfat"):
        (medium / ".rabtui-medium").write_bytes(label)      # the first disk's label: m1 before
        capsys.readouterr()
        assert main(["--config", str(lab.config_path), "media", "label", "m1", "--force"]) == 1
        said = capsys.readouterr()
        assert "refuses to set a file's mode" in said.out + said.err
        assert "from now on" not in said.out
        assert sorted(os.listdir(medium)) == [".rabtui-medium"]
        assert (medium / ".rabtui-medium").read_bytes() == label


def test_a_name_exfat_cannot_hold_is_said_not_written_on_the_medium(tmp_path, capsys):
    """`a:b` on exFAT: the backup says rsync could not write it on the medium; so does the plan,
    which said the backup could not read it on the source."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"ok": b"ok", "sub/a:b": b"colon"})
    conf = ["--config", str(lab.config_path)]
    with fat_mounted(lab.media[0][1], "exfat"):
        made = lab.backup(cfg)
        assert made.status == "warnings" and "1 file rsync could not write on the medium" in made.reason, made.reason
        assert main([*conf, "checkpoint", "plan"]) == 0
        said = capsys.readouterr()
        assert "could not write 1 file on the medium" in said.out and "could not read" not in said.out + said.err


def test_a_fifo_rsync_could_not_make_on_exfat_is_named_not_left_as_an_empty_file(tmp_path, capsys):
    """exfat-fuse's mknod fails ("File exists") after leaving an empty regular file in the FIFO's
    place, which the catalog did not know: it went onto the discs and came back from a restore as
    an empty file. The backup removes it and names the FIFO (and the symlink, which it could not
    make either) as not made on the medium; the plan says so, and neither the discs nor a restore
    hold anything in their place."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"a": b"a", "sub/b": b"b"})
    os.mkfifo(data / "sub" / "fifo")
    os.symlink("b", data / "sub" / "link")
    conf = ["--config", str(lab.config_path)]
    with fat_mounted(lab.media[0][1], "exfat"):
        made = lab.backup(cfg)
        assert made.status == "warnings", made.reason
        assert "2 symlinks or special files rsync could not make on the medium" in made.reason, made.reason
        assert "sub/fifo, sub/link" in made.reason, made.reason
        copy = made.path / "data" / str(data).lstrip("/")
        assert sorted(os.listdir(copy / "sub")) == ["b"]
        capsys.readouterr()
        assert main([*conf, "checkpoint", "plan"]) == 0
        assert "could not write 2 files on the medium" in capsys.readouterr().out
        number = burn_due(cfg, lab.store(), {"*"}, verified=True)
        out = tmp_path / "out"
        assert main([*conf, "restore", "loc", str(data), "--to", str(out)]) == 0
    listed = subprocess.run(["xorriso", "-indev", str(tmp_path / "iso" / f"RAB{number}D01.iso"), "-find",
                             f"/data/loc{data}"], capture_output=True, text=True).stdout
    assert f"/data/loc{data}/sub/b" in listed and "sub/fifo" not in listed and "sub/link" not in listed, listed
    assert sorted(os.listdir(out / str(data).lstrip("/") / "sub")) == ["b"]


def _shows_umask(top: Path, umask: int) -> None:
    """Wait (10 s at most) until the mount at `top`'s medium shows the modes `umask` gives: a remount
    just made may answer for a moment as the one before it (once under six test processes)."""
    deadline = time.monotonic() + 10
    while stat.S_IMODE(os.stat(top).st_mode) != 0o777 & ~umask and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stat.S_IMODE(os.stat(top).st_mode) == 0o777 & ~umask, oct(os.stat(top).st_mode)


def test_an_exfat_medium_mounted_again_with_another_umask_is_said_how_to_write_its_checkpoint(tmp_path):
    """exFAT's modes are its mount's: mounted again with another umask between the plan and the burn,
    each entry is found with another mode than recorded, which no chmod puts back; the refusal says
    how to. Mounted as it was, the disc is written."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"a": b"a" * 100, "sub/b": b"b"})
    medium = lab.media[0][1]
    with fat_mounted(medium, "exfat"):
        assert lab.backup(cfg).status == "completed"
        store = lab.store()
        number = _record(lab, cfg, store)
        loop = subprocess.run(["losetup", "-j", str(medium.parent / f"{medium.name}.exfat")], check=True,
                              capture_output=True, text=True).stdout.split(":")[0]
        for umask in ("027", "077"):
            subprocess.run(["fusermount", "-u", str(medium)], check=True)
            subprocess.run(["mount.exfat-fuse", "-o", f"umask={umask}", loop, str(medium)], check=True,
                           capture_output=True)
            _shows_umask(medium / "loc", int(umask, 8))
            res, prompter, _ = _burn(lab, cfg, store, number, lambda q: ABORT if q.kind == questions.FAILED else READY)
            failed = [q.text for q in prompter.asked if q.kind == questions.FAILED]
            if umask == "027":
                assert res.status == "aborted" and "its mode changed" in failed[0], failed
                assert "mount it again with the uid=, gid= and umask= it had" in failed[0], failed
        assert res.status == "completed", failed
