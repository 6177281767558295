"""A medium that holds a standard directory's files as its backup saved them, though at other times
than the catalog's to the second, is not taken for one written into: a checkpoint's plan goes
through and a restore from it gives every file back (exit 0). The operator copied the medium onto
a new disk whose file system holds fewer years (ext4 of 128-byte inodes to 2038-01-19, as XFS
without bigtime; ext4 to 2446-05-10): a file dated beyond is held at that bound, its label still
saying nanoseconds until the next backup probes it. A database rebuilt before the catalog floored
times held a time before 1970 one second later (int() toward zero: -1 for -1.5 s). A medium copied
without its times (cp -r), or back from a file system of seconds, has the times of its backups
before the next one not compared, those after compared again. Real rsync, cp, tar and loop-mounted
ext2 file systems."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from rabtui.checkpoint import prepare
from rabtui.cli import main
from rabtui.errors import WorkFailed
from tests.trees import Lab, ext2_mounted, in_memory, next_second, write_files

Y2100 = 4_102_444_801_250_000_000       # 2100-01-01 00:00:01.25, in ns as the others
Y2500 = 16_725_225_601_250_000_000      # 2500-01-01 00:00:01.25


def _backed_up(lab: Lab, times: dict[str, int]):
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {name: name.encode() * 100 for name in times})
    for name, t in times.items():
        os.utime(data / name, ns=(t, t))
    made = lab.backup(cfg)
    assert made.status == "completed", made.reason
    return cfg, data


def _copied_without_times(lab: Lab) -> None:
    """The medium copied by `cp -r` (each file, its label too, dated by the copy) into its place."""
    medium = lab.media[0][1]
    old = medium.rename(lab.tmp / "old-disk")
    medium.mkdir()
    next_second()
    subprocess.run(["cp", "-r", f"{old}/.", f"{medium}/"], check=True)


def _first_restored(lab: Lab, data, out, what=None) -> None:
    """`what` (the directory `data`'s f0 if None) restored from the first backup, exit 0, f0 as saved."""
    first = lab.store().one("SELECT name FROM backups ORDER BY id")["name"]
    assert main(["--config", str(lab.config_path), "restore", "loc", str(what or data / "f0"), "--to", str(out),
                 "--backup", first]) == 0
    assert (out / str(data / "f0").lstrip("/")).read_bytes() == b"f0" * 100


def _as_saved(lab: Lab, cfg, data, names) -> None:
    """The plan goes through, the directory and each file restored from the medium whole."""
    prepare.compute(cfg, lab.store(), asked={"*"})
    out = lab.tmp / "out"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(out)]) == 0
    for name in names:
        assert (out / str(data / name).lstrip("/")).read_bytes() == name.encode() * 100
        alone = lab.tmp / f"out-{name}"
        assert main(["--config", str(lab.config_path), "restore", "loc", str(data / name), "--to", str(alone)]) == 0


COPIES = {"cp -a": lambda old, new: ["cp", "-a", f"{old}/.", f"{new}/"],
          "rsync -aH": lambda old, new: ["rsync", "-aH", f"{old}/", f"{new}/"]}


@pytest.mark.parametrize("how", sorted(COPIES))
@pytest.mark.parametrize("inode, far", [("128", Y2100), ("256", Y2500)])
def test_a_medium_copied_onto_a_file_system_of_fewer_years(how, inode, far):
    with in_memory("rabtui-copied-") as tmp:      # a tmpfs holds 2500, as btrfs and XFS bigtime do
        _copied(tmp, how, inode, far)


def _copied(tmp_path, how, inode, far):
    lab = Lab(tmp_path, media_count=1)
    cfg, data = _backed_up(lab, {"far": far, "now": 1_700_000_000_123_456_789})
    medium = lab.media[0][1]
    old = medium.rename(tmp_path / "old-disk")
    medium.mkdir()
    with ext2_mounted(medium, "-I", inode):
        done = subprocess.run(COPIES[how](old, medium), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert os.stat(next(medium.rglob("far"))).st_mtime_ns < far     # held at the file system's last second
        _as_saved(lab, cfg, data, ["far", "now"])


def test_a_time_before_1970_as_an_older_rebuild_state_recorded_it(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg, data = _backed_up(lab, {"old": -1_500_000_000, "older": -86_400 * 10**9 - 1})
    store = lab.store()
    # rebuild-state wrote int(st.st_mtime): -1 for -1.5 s, -86400 for -86400.000000001 s
    with store.transaction() as conn:
        assert conn.execute("UPDATE versions SET mtime=mtime+1 WHERE mtime<0").rowcount == 2
    _as_saved(lab, cfg, data, ["old", "older"])


@pytest.mark.parametrize("labelled", ["now", "before stamps"])
def test_a_medium_copied_without_its_times_is_planned_and_restored_whole(tmp_path, labelled):
    """cp -r gives each file, the label too, the time of the copy: the label's is not the one rabtui
    gave it (a fraction of its own), so its files' times are not compared (each was refused as
    written into, none restored). A label written before labels were stamped is stamped by the next
    backup."""
    lab = Lab(tmp_path, media_count=1)
    cfg, data = _backed_up(lab, {"f0": 1_700_000_000_123_456_789, "f1": 1_700_000_001_123_456_789})
    medium = lab.media[0][1]
    if labelled == "before stamps":
        label = json.loads((medium / ".rabtui-medium").read_text())
        (medium / ".rabtui-medium").write_text(json.dumps({k: v for k, v in label.items() if k != "stamped_ns"}))
        next_second()
        assert lab.backup(cfg).status == "completed"
    _copied_without_times(lab)
    _as_saved(lab, cfg, data, ["f0", "f1"])


def test_a_medium_copied_without_its_times_has_them_compared_again_from_its_next_backups(tmp_path):
    """Its next backup labels it anew, saying times are kept from then on: a file of a later backup
    written into in place refuses the plan again (the label kept the copy's time, and no time was
    compared for ever), a file of the backup before the copy is still restored as it is there."""
    lab = Lab(tmp_path, media_count=1)
    cfg, data = _backed_up(lab, {"f0": 1_700_000_000_123_456_789})
    _copied_without_times(lab)
    for _ in range(2):      # the one that labels it began before: its files are the copy's as well
        next_second()
        made = lab.backup(cfg)
        assert made.status == "completed", made.reason
    with open(made.path / "data" / str(data / "f0").lstrip("/"), "r+b") as f:
        f.write(b"BAD")
    with pytest.raises(WorkFailed, match="written into"):
        prepare.compute(cfg, lab.store(), asked={"*"})
    _first_restored(lab, data, tmp_path / "out")


def test_a_medium_back_from_a_file_system_of_seconds_has_the_times_of_its_backups_before_not_compared(tmp_path):
    """Copied without its times onto ext2 of 128-byte inodes and backed up there (labelled anew: no
    nanoseconds), then copied back with them onto one that keeps nanoseconds: its next backup labels
    it anew, saying nanoseconds from then on only (the backups before were compared, the first
    one's files refused as written into at the copy's time)."""
    lab = Lab(tmp_path, media_count=1)
    cfg, data = _backed_up(lab, {"f0": 1_700_000_000_123_456_789})
    medium = lab.media[0][1]
    old = medium.rename(tmp_path / "old-disk")
    medium.mkdir()
    with ext2_mounted(medium, "-I", "128"):
        subprocess.run(["cp", "-r", f"{old}/.", f"{medium}/"], check=True)
        assert main(["--config", str(lab.config_path), "media", "label", "m1", "--force"]) == 0   # mounted now
        assert lab.backup(cfg).status == "completed"
        subprocess.run(["rm", "-rf", str(old)], check=True)
        subprocess.run(["cp", "-a", f"{medium}/.", f"{old}/"], check=True)
    medium.rmdir()
    old.rename(medium)
    assert main(["--config", str(lab.config_path), "media", "label", "m1", "--force"]) == 0
    assert lab.backup(cfg).status == "completed"
    _first_restored(lab, data, tmp_path / "out")


def test_a_medium_copied_without_its_times_after_a_backup_begun_while_the_clock_was_ahead(tmp_path):
    """The clock was a day ahead when the medium's backup began, set back since: the backup that
    finds the medium copied (cp -r) says times are kept from after that one too, which was
    refused as written into at the copy's time, not restored, the plan refused."""
    lab = Lab(tmp_path, media_count=1)
    cfg, data = _backed_up(lab, {"f0": 1_700_000_000_123_456_789, "f1": 1_700_000_001_123_456_789})
    with lab.store().transaction() as conn:
        conn.execute("UPDATE backups SET started=started+86400")
    _copied_without_times(lab)
    next_second()
    assert lab.backup(cfg).status == "completed"
    _first_restored(lab, data, tmp_path / "out-first")
    _as_saved(lab, cfg, data, ["f0", "f1"])


@pytest.mark.parametrize("since", ["2026-12-01", None, [], True])
def test_a_label_whose_times_since_is_not_a_time_has_no_time_compared(tmp_path, since):
    """A label edited by hand (its file's time put back), saying from when its times are kept in
    another form than a number: taken as saying nothing of when, not as saying always."""
    lab = Lab(tmp_path, media_count=1)
    cfg, data = _backed_up(lab, {"f0": 1_700_000_000_123_456_789})
    medium = lab.media[0][1]
    _copied_without_times(lab)
    next_second()
    assert lab.backup(cfg).status == "completed"
    path = medium / ".rabtui-medium"
    label, st = json.loads(path.read_text()), path.stat()
    assert isinstance(label["times_since"], float)
    path.write_text(json.dumps({**label, "times_since": since}))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    first = lab.store().one("SELECT name FROM backups ORDER BY id")["name"]
    out = tmp_path / "out-first"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data / "f0"), "--to", str(out),
                 "--backup", first]) == 0
    prepare.compute(cfg, lab.store(), asked={"*"})


def test_a_medium_copied_without_its_label_then_labelled_by_force_has_the_times_before_not_compared(tmp_path):
    """cp -r old/* new/ leaves the label behind (a dot file): the next backup refuses the medium
    found unlabelled, its hint `media label --force`, whose new label said every time kept (each
    file refused as written into at the copy's time, none restored)."""
    lab = Lab(tmp_path, media_count=1)
    cfg, data = _backed_up(lab, {"f0": 1_700_000_000_123_456_789, "f1": 1_700_000_001_123_456_789})
    medium = lab.media[0][1]
    old = medium.rename(tmp_path / "old-disk")
    medium.mkdir()
    subprocess.run(["cp", "-r", *(str(p) for p in old.iterdir() if not p.name.startswith(".")), f"{medium}/"],
                   check=True)
    assert not (medium / ".rabtui-medium").exists()
    assert main(["--config", str(lab.config_path), "media", "label", "m1", "--force"]) == 0
    _as_saved(lab, cfg, data, ["f0", "f1"])


def test_a_medium_labelled_before_stamps_and_copied_without_its_times_before_its_next_backup(tmp_path):
    """An earlier rabtui labelled it (no stamp: any fraction of a second), then it was copied with cp
    -r: its next backup, which stamps the label, finds its time after every backup of the medium
    ended (a copy's), and says times kept from then on only; it said them kept for all, each file
    of the backups before refused as written into, none restored."""
    lab = Lab(tmp_path, media_count=1)
    cfg, data = _backed_up(lab, {"f0": 1_700_000_000_123_456_789, "f1": 1_700_000_001_123_456_789})
    medium = lab.media[0][1]
    path = medium / ".rabtui-medium"
    label = json.loads(path.read_text())
    path.write_text(json.dumps({k: v for k, v in label.items() if k != "stamped_ns"}))
    written = lab.store().one("SELECT started FROM backups")["started"]      # by that backup, as it began
    os.utime(path, ns=(int(written * 1e9),) * 2)
    _copied_without_times(lab)
    next_second()
    assert lab.backup(cfg).status == "completed"
    _first_restored(lab, data, tmp_path / "out-first", data)
