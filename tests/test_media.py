"""The media modules (medium, medium_layout, rotation, mounting): labels, checks, rotation order,
layout, and mounting a medium that has a device."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from rabtui.media import medium as media, medium_layout, mount_notes, mounting
from rabtui.media.rotation import next_medium, record_use
from rabtui.config import Medium
from rabtui.errors import WorkFailed
from rabtui.state import catalog
from tests import preloaded
from tests.trees import Lab, write_files


def test_labels(tmp_path):
    m = Medium(id="a", path=tmp_path)
    assert media.read_label(tmp_path) is None
    label = media.write_label(m)
    assert media.read_label(tmp_path) == label and label["id"] == "a"
    assert not (tmp_path / ".rabtui-medium.tmp").exists()
    (tmp_path / ".rabtui-medium").write_text("plain-id\n")
    assert media.read_label(tmp_path) == {"id": "plain-id"}


def test_check_medium(tmp_path):
    missing = Medium(id="x", path=tmp_path / "nope")
    with pytest.raises(WorkFailed, match="does not exist"):
        media.check_medium(missing)
    empty = tmp_path / "empty"
    (empty / "lost+found").mkdir(parents=True)
    info = media.check_medium(Medium(id="e", path=empty))
    assert info["label"]["id"] == "e" and info["free_bytes"] > 0 and "free_inodes" in info
    assert media.check_medium(Medium(id="e", path=empty))["label"]["id"] == "e"
    with pytest.raises(WorkFailed, match="labelled 'e', not 'f': wrong medium"):
        media.check_medium(Medium(id="f", path=empty))
    used = tmp_path / "used"
    write_files(used, {"x": b"1"})
    with pytest.raises(WorkFailed, match="holds files but no .rabtui-medium label") as err:
        media.check_medium(Medium(id="u", path=used))
    assert "rabtui media label u --force" in str(err.value)


def test_layout_and_listing(tmp_path):
    assert medium_layout.archive_root("/m", "web", "/srv/photos") == Path("/m/web/.archive/srv/photos")
    assert medium_layout.backup_data_path("/m/web/backup-1", "/etc") == Path("/m/web/backup-1/data/etc")
    root = tmp_path / "web"
    for name in ["backup-20261122031500-10", "backup-20261122031500", "backup-20261122031500-2",
                 "backup-20261121000000", "not-a-backup", ".archive"]:
        (root / name).mkdir(parents=True)
    (root / "backup-20261122031500" / "backup.json").write_text(json.dumps({"status": "completed"}))
    listed = medium_layout.list_backups(tmp_path, "web")
    assert [n for n, _, _ in listed] == ["backup-20261121000000", "backup-20261122031500",
                                        "backup-20261122031500-2", "backup-20261122031500-10"]
    assert listed[1][2] == {"status": "completed"} and listed[0][2] is None
    assert medium_layout.list_backups(tmp_path, "other") == []


def test_rotation_order(tmp_path):
    lab = Lab(tmp_path, media_count=3)
    cfg = lab.local()
    store = lab.store()
    assert next_medium(cfg, store).id == "m1"
    for mid, expected in (("m1", "m2"), ("m2", "m3"), ("m3", "m1")):
        record_use(store, cfg.medium(mid), {"label": {"id": mid}}, when=time.time())
        time.sleep(0.01)
        assert next_medium(cfg, store).id == expected
    store.execute("INSERT INTO media(id, last_used) VALUES ('retired', ?)", (time.time() + 10,))
    assert next_medium(cfg, store).id == "m1"   # a medium no longer configured is ignored


def test_the_rotation_goes_on_after_a_night_under_a_clock_a_day_and_some_hours_ahead(tmp_path):
    """The night after one whose clock was ahead by a day and some hours, that night's use was still
    dated after the one being recorded (only a use more than a day ahead was moved back): the next
    night went to the medium after it again, which took two nights, and the one after it none."""
    lab = Lab(tmp_path, media_count=3)
    cfg = lab.local()
    store = lab.store()
    night = time.time()
    record_use(store, cfg.medium("m1"), {"label": {"id": "m1"}}, when=night)
    record_use(store, cfg.medium("m2"), {"label": {"id": "m2"}}, when=night + 86400 + 30 * 3600)   # 30 h ahead
    assert next_medium(cfg, store).id == "m3"
    record_use(store, cfg.medium("m3"), {"label": {"id": "m3"}}, when=night + 2 * 86400)          # right again
    assert next_medium(cfg, store).id == "m1"


def test_medium_with_a_device_is_mounted_for_the_backup(tmp_path, disk_image):
    lab = Lab(tmp_path)
    mount_point = lab.media[0][1]
    cfg = lab.local()
    lab.on_device(mount_point, disk_image)
    cfg = lab.load()
    write_files(lab.src / "data", {"a": b"on the usb disk"})
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "completed", result.reason
    assert not os.path.ismount(mount_point)          # unmounted after the backup
    assert not result.path.exists()                  # the backup lives on the device, not the mount point
    assert any(f"mounted {disk_image}" in m for m in lab.messages("log"))
    with mounting.mounted(cfg.medium("m1")):
        assert os.path.ismount(mount_point)
        assert media.read_label(mount_point)["id"] == "m1"
        assert (medium_layout.backup_data_path(result.path, str(lab.src / "data")) / "a").read_bytes() == b"on the usb disk"
    assert not os.path.ismount(mount_point)


def test_a_failure_after_a_backup_is_complete_undoes_nothing_of_it(tmp_path, disk_image, monkeypatch):
    """Unmounting the medium fails after the backup is complete (what says rabtui mounted it cannot
    be removed): the backup stays complete, on the medium, in the database and in the catalog, with
    a warning; it was recorded failed and its catalog rows forgotten."""
    lab = Lab(tmp_path)
    mount_point = lab.media[0][1]
    lab.local()
    lab.on_device(mount_point, disk_image)
    cfg = lab.load()
    write_files(lab.src / "data", {"a": b"on the usb disk"})
    remove = mount_notes.remove

    def cannot_be_removed(note):
        if note.exists():
            raise PermissionError(1, "Operation not permitted", str(note))
        remove(note)

    monkeypatch.setattr(mount_notes, "remove", cannot_be_removed)
    result = lab.backup(cfg, medium_id="m1")
    monkeypatch.undo()
    assert result.status == "completed", result.reason
    assert any("is completed; after that" in m for m in lab.messages("warning")), lab.messages("warning")
    store = lab.store()
    row = store.one("SELECT * FROM backups WHERE id=?", (result.backup_id,))
    assert row["status"] == "completed"
    assert [path.rsplit(b"/", 1)[1] for path in catalog.contents(store, row)] == [b"a"]
    if os.path.ismount(mount_point):
        subprocess.run(["umount", str(mount_point)], check=True)
    with mounting.mounted(cfg.medium("m1")):
        assert medium_layout.read_backup_json(result.path)["status"] == "completed"


def test_a_backup_that_joins_a_run_on_its_device_medium_and_ends_last_unmounts_it(tmp_path, disk_image):
    """A night's run mounted the medium; a backup started meanwhile (from the UI, by hand) joined it
    and was still writing when the run ended: the run could not unmount it ("target is busy", a
    warning), and the backup that joined, which had not mounted it, left it mounted after its end,
    a removable disk the operator then takes away as if it were unmounted. Now the last of them to
    end unmounts it, and the first says nothing."""
    import sys

    lab = Lab(tmp_path)
    mount_point = lab.media[0][1]
    joined, run_ended = tmp_path / "joined", tmp_path / "run-ended"
    text = ""
    for sid in ("a", "b", "c"):
        write_files(lab.src / sid, {"f": sid})
        pre = (f"touch {joined}; until [ -e {run_ended} ]; do sleep 0.1; done" if sid == "c"
               else f"until [ -e {joined} ]; do sleep 0.1; done")
        text += f'[[sources]]\nid = "{sid}"\npre_backup_commands = ["{pre}"]\n' \
                f'[[sources.directories]]\npath = "{lab.src / sid}"\n'
    lab.write(text)
    lab.on_device(mount_point, disk_image)

    def rabtui(*argv: str) -> subprocess.Popen:
        return preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *argv],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    run = rabtui("backup", "a", "b", "--medium", "m1")
    deadline = time.monotonic() + 30
    while not lab.store().one("SELECT COUNT(*) FROM backup_steps WHERE step=4 AND state='running'")[0] == 2:
        assert time.monotonic() < deadline and run.poll() is None, run.communicate()
        time.sleep(0.1)
    late = rabtui("backup", "c")     # joins the run's medium
    try:
        out, err = run.communicate(timeout=60)
    finally:
        run_ended.touch()
        late_out, late_err = late.communicate(timeout=60)
    assert run.returncode == 0, out + err
    assert "cannot unmount" not in out + err
    assert late.returncode == 0, late_out + late_err
    assert not os.path.ismount(mount_point)
    rows = lab.store().all("SELECT source, medium, status FROM backups ORDER BY source")
    assert [tuple(r) for r in rows] == [(s, "m1", "completed") for s in ("a", "b", "c")]
    assert os.listdir(mount_point) == []
    with mounting.mounted(lab.load().medium("m1")):
        assert {"a", "b", "c"} <= {p.name for p in mount_point.iterdir()}


def test_a_run_killed_complete_on_a_device_medium_is_recorded_once_it_is_mounted(tmp_path, disk_image):
    """Killed once its backup.json said complete (its row not yet), on a medium with a device, which
    is unmounted then (a reboot): the next run finds the run before it mounts the medium, and
    records it as its backup.json says once it is mounted. It was marked abandoned then, and the
    run undid and deleted it as soon as it had mounted the medium: a file only it saved, dropped by
    the source meanwhile, was lost."""
    from tests.test_kill_anywhere import _check_after, _copy, _files, _killed, rabtui

    lab = Lab(tmp_path, media_count=1)
    mount_point = lab.media[0][1]
    cfg = lab.local([("data", "standard"), ("arch", "archive")])
    lab.on_device(mount_point, disk_image)
    cfg = lab.load()
    _files(lab.src / "data", {"a": b"a1"})
    _files(lab.src / "arch", {"x": b"x1"})
    assert rabtui(lab, "backup", "loc").returncode == 0
    store = lab.store()
    copies = {store.one("SELECT id FROM backups")["id"]: _copy(lab, cfg)}
    _files(lab.src / "arch", {"only": b"saved once"})
    copies_at_kill = _copy(lab, cfg)
    _killed(rabtui(lab, "backup", "loc", point="backup.json_written"))
    killed = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    copies[killed["id"]] = copies_at_kill
    if os.path.ismount(mount_point):
        subprocess.run(["umount", str(mount_point)], check=True)
    os.unlink(lab.src / "arch" / "only")
    again = rabtui(lab, "backup", "loc")
    assert again.returncode == 0, again.stdout + again.stderr
    assert store.one("SELECT status FROM backups WHERE id=?", (killed["id"],))["status"] == "completed"
    newest = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert newest["link_dest"] == killed["id"], again.stdout + again.stderr
    copies[newest["id"]] = _copy(lab, cfg)
    with mounting.mounted(cfg.medium("m1")):
        union = medium_layout.archive_root(mount_point, "loc", str(lab.src / "arch"))
        assert (union / "only").read_bytes() == b"saved once"
        _check_after(lab, cfg, copies, killed)


def test_mount_failure_is_a_clear_error(tmp_path):
    lab = Lab(tmp_path)
    lab.local()
    lab.config_path.write_text(lab.config_path.read_text().replace(
        'id = "m1"\n', f'id = "m1"\ndevice = "{tmp_path}/no-such-device"\n'))
    result = lab.backup(lab.load(), medium_id="m1")
    assert result.status == "failed" and "cannot mount" in result.reason
    # mount's message of several lines is one line of the reason, as the job's summary says it
    assert "\n" not in result.reason and not result.reason.endswith(" "), repr(result.reason)
    from rabtui.cli import main
    assert main(["--config", str(lab.config_path), "backup", "loc", "--medium", "m1"]) == 1
    summary = lab.store().one("SELECT summary FROM jobs ORDER BY id DESC LIMIT 1")["summary"]
    assert "cannot mount" in summary and "\n" not in summary, repr(summary)


def test_status_gives_no_other_file_system_s_space_for_a_medium_that_is_not_there(tmp_path, capsys):
    """A disk (a 2 MiB tmpfs) backed up onto, then unplugged: its mount point is an empty directory
    of the server's own disk. Neither that nor another medium mounted at its path is the medium:
    `status` gives the space last seen on it, never the other file system's."""
    from rabtui.cli import main

    if os.geteuid() != 0:
        pytest.skip("a tmpfs medium needs root (mount -t tmpfs)")
    lab = Lab(tmp_path, media_count=2)
    lab.local()
    write_files(lab.src / "data", {"a": 100_000})
    m1, m2 = (path for _, path in lab.media)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(m1)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        args = ["--config", str(lab.config_path)]
        assert main([*args, "backup", "loc"]) == 0 and main([*args, "backup", "loc"]) == 0   # onto m1, then m2
        on_disk = os.statvfs(m1).f_bavail * os.statvfs(m1).f_frsize
    finally:
        subprocess.run(["umount", "-l", str(m1)], check=False)
    (m2 / ".rabtui-medium").rename(tmp_path / "m2-label")       # m1's disk mounted at m2's path, say
    (m2 / ".rabtui-medium").write_text(json.dumps({"id": "m1"}))
    capsys.readouterr()
    assert main([*args, "status", "--json"]) == 0
    shown = {m["id"]: m for m in json.loads(capsys.readouterr().out)["media"]}
    assert shown["m1"]["free_bytes"] == on_disk < 2 << 20, shown["m1"]
    assert shown["m2"]["free_bytes"] == lab.store().one("SELECT free_bytes FROM media WHERE id='m2'")[0], shown["m2"]
