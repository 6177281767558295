"""Kill anywhere: the real `rabtui` process is killed with SIGKILL at each named fault point of a
backup and of a burn (rabtui/faults.py); the next run says what it found, and the media, the
catalog and the state stay consistent, with nothing that was complete lost."""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rabtui import faults
from rabtui.backup import recovery
from rabtui.checkpoint import xorriso
from rabtui.state import jobs
from rabtui.media import medium_layout
from rabtui.state.store import COMPLETE
from tests import invariants, preloaded
from tests.trees import Lab, closed, made_once, snapshot, ssh_source_lines, write_files


def rabtui(lab: Lab, *args: str, point: str | None = None, timeout: float = 120,
           tmpdir=None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop(faults.ENV, None)
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    if point:
        env[faults.ENV] = point
    return preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args],
                         env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


_clock = [1_700_000_000]


def _files(root, files: dict) -> None:
    """Write files, each with its own mtime (a change is never hidden by rsync's quick check)."""
    write_files(root, files)
    for rel in files:
        _clock[0] += 10
        os.utime(os.path.join(os.fsencode(root), os.fsencode(rel)), (_clock[0], _clock[0]))


def _copy(lab: Lab, cfg) -> dict[str, dict[bytes, bytes]]:
    return {d.path: snapshot(d.path) for d in cfg.sources[0].directories}


def _local_lab(tmp_path) -> tuple[Lab, object]:
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard"), ("arch", "archive")])
    _files(lab.src / "data", {"a": b"a1" * 500, "b": b"b1", "sub/c": b"c1" * 300})
    _files(lab.src / "arch", {"x": b"x1" * 100, "y": b"y1"})
    return lab, cfg


def _change(lab: Lab) -> None:
    _files(lab.src / "data", {"a": b"a2" * 700, "new": b"n2"})
    os.unlink(lab.src / "data" / "b")
    _files(lab.src / "arch", {"x": b"x2" * 120, "z": b"z2"})


def _killed(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == -signal.SIGKILL, f"not killed: exit {done.returncode}\n{done.stdout}\n{done.stderr}"


def killed_on_a_device(tmp_path, disk_image, *args: str, point: str = "backup.json_written", extra: str = "",
                       unmount: bool = True) -> tuple[Lab, Path]:
    """A source of one file and one medium that has a `device` (`disk_image`): `rabtui ARGS` killed
    at `point`, then, with `unmount`, the medium unmounted (as a reboot leaves it). The lab and the
    medium's mount point."""
    lab = Lab(tmp_path, media_count=1)
    lab.local(extra=extra)
    m1 = lab.media[0][1]
    lab.on_device(m1, disk_image)
    write_files(lab.src / "data", {"a": b"a1"})
    _killed(rabtui(lab, *args, point=point))
    if unmount and os.path.ismount(m1):
        subprocess.run(["umount", str(m1)], check=True)
    return lab, m1


def _no_job_left_running(store) -> None:
    """The killed run's job shows as dead, not running for ever."""
    assert not jobs.running_jobs(store)
    assert store.one("SELECT COUNT(*) FROM jobs WHERE status='dead'")[0] == 1


def _check_after(lab: Lab, cfg, copies: dict, killed_row) -> None:
    store = lab.store()
    _no_job_left_running(store)
    invariants.check_json_agrees(cfg, store)
    invariants.check_backups_hold(cfg, store, copies)
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_change_counters(store)
    row = store.one("SELECT * FROM backups WHERE id=?", (killed_row["id"],))
    info = medium_layout.read_backup_json(killed_row["path"]) if os.path.isdir(killed_row["path"]) else None
    if row["status"] not in COMPLETE:
        if row["status"] == "kept":      # killed after its transfer ended whole
            assert info and info["status"] == "kept"
        else:
            assert row["status"] == "abandoned" and not os.path.exists(killed_row["path"])
        users = store.all("SELECT name FROM backups WHERE link_dest=?", (row["id"],))
        assert not users, f"the killed run became the base of {[u['name'] for u in users]}"
    else:
        assert info and info["status"] == row["status"]


@pytest.fixture(scope="module")
def _backed_up_made(tmp_path_factory):
    """_local_lab backed up once, then changed, made once for the module: (the backup's row, the
    copies it holds by its id)."""
    def make(live):
        lab, cfg = _local_lab(live)
        first = rabtui(lab, "backup", "loc")
        assert first.returncode == 0, first.stderr
        store = lab.store()
        b1 = dict(store.one("SELECT * FROM backups"))
        store.close()
        copies = {b1["id"]: _copy(lab, cfg)}
        _change(lab)
        closed(lab)
        return b1, copies

    yield from made_once(tmp_path_factory, make)


@pytest.mark.parametrize("point", faults.BACKUP_POINTS + faults.UNION_POINTS)
def test_kill_during_a_backup(_backed_up_made, point):
    (b1, copies), made = _backed_up_made
    lab = Lab(made.anew(), media_count=1)
    cfg, copies = lab.load(), copy.deepcopy(copies)
    store = lab.store()

    _killed(rabtui(lab, "backup", "loc", point=point))
    killed = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert killed["id"] != b1["id"]
    was_running = killed["status"] == "running"
    at_kill = _copy(lab, cfg)

    after = rabtui(lab, "backup", "loc")
    assert after.returncode == 0, after.stdout + after.stderr
    if was_running:
        assert f"found an interrupted backup of loc ({killed['name']}" in after.stdout + after.stderr
    row = store.one("SELECT * FROM backups WHERE id=?", (killed["id"],))
    if row["status"] in COMPLETE:
        # killed after backup.json said complete: it was complete, and is kept as such
        assert point in ("backup.json_written", "backup.step7")
        copies[killed["id"]] = at_kill
    # killed after its transfer ended whole (steps 6, 7): its data is kept (test_killed_after_transfer.py)
    assert (row["status"] == "kept") == (point in ("backup.step5", "backup.step6", "backup.union_linking",
                                                   "backup.archive_linked", "backup.catalog",
                                                   "backup.step7_ended")), row["status"]
    if row["status"] == "kept":     # what its step 7 linked is undone: it did not end, whatever its row said
        assert store.one("SELECT state FROM backup_steps WHERE backup_id=? AND step=7", (row["id"],))[0] != "ok"
    newest = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert newest["status"] == "completed"
    copies[newest["id"]] = _copy(lab, cfg)
    base = killed["id"] if row["status"] in COMPLETE else b1["id"]
    assert newest["link_dest"] == base
    _check_after(lab, cfg, copies, killed)


def test_kill_during_an_ssh_backup(tmp_path, sshd):
    lab = Lab(tmp_path, media_count=1)
    (lab.src / "data").mkdir()
    _files(lab.src / "data", {"a": b"1" * 3000, "d/b": b"2"})
    cfg = lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{lab.src / "data"}"\n')
    lab.trust(sshd)
    assert rabtui(lab, "backup", "web").returncode == 0
    store = lab.store()
    b1 = store.one("SELECT * FROM backups")
    copies = {b1["id"]: {str(lab.src / "data"): snapshot(lab.src / "data")}}
    _files(lab.src / "data", {"a": b"3" * 4000, "c": b"4"})
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    _killed(rabtui(lab, "backup", "web", point="backup.catalog", tmpdir=tmp))
    # the directory of the shared connection's socket outlives a killed run; the next one removes it
    assert [n for n in os.listdir(tmp) if n.startswith("rabtui-")], os.listdir(tmp)
    killed = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    after = rabtui(lab, "backup", "web", tmpdir=tmp)
    assert after.returncode == 0, after.stderr
    assert not os.listdir(tmp)
    assert f"found an interrupted backup of web ({killed['name']}" in after.stdout + after.stderr
    newest = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    copies[newest["id"]] = {str(lab.src / "data"): snapshot(lab.src / "data")}
    assert newest["link_dest"] == b1["id"]
    assert store.one("SELECT status FROM backups WHERE id=?", (killed["id"],))["status"] == "kept"
    _check_after(lab, cfg, copies, killed)


def _burn_lab(tmp_path) -> tuple[Lab, object]:
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("data", "standard"), ("arch", "archive")])
    _files(lab.src / "data", {f"f{i}": os.urandom(900_000) for i in range(5)})
    _files(lab.src / "arch", {"x": b"x" * 5000, "sub/y": b"y"})
    return lab, cfg


@pytest.mark.parametrize("point", faults.BURN_POINTS)
def test_kill_during_a_burn(tmp_path, point):
    lab, cfg = _burn_lab(tmp_path)
    assert rabtui(lab, "backup", "loc").returncode == 0
    store = lab.store()
    b1 = store.one("SELECT * FROM backups")
    copies = {b1["id"]: _copy(lab, cfg)}

    _killed(rabtui(lab, "checkpoint", "burn", "--yes", "--now", point=point))
    cp = store.one("SELECT * FROM checkpoints")
    assert cp["status"] == "burning" and cp["discs"] >= 2
    before = {r["disc"]: r["state"] for r in store.all("SELECT disc, state FROM discs")}
    iso = tmp_path / "iso"
    at_kill = {p.name: p.stat().st_mtime_ns for p in iso.iterdir()} if iso.exists() else {}
    # an image cut short never carries a disc's name (an operator would burn it, or abandon and leave it)
    named = {int(m.group(1)) for n in at_kill if (m := re.fullmatch(r"RAB\d+D(\d+)\.iso", n))}
    assert all(before[k] in ("written", "verified") for k in named), (before, sorted(at_kill))

    resume = rabtui(lab, "checkpoint", "resume", "--yes")
    out = resume.stdout + resume.stderr
    assert resume.returncode == 0, out
    assert f"found checkpoint {cp['number']} interrupted" in out
    assert store.one("SELECT status FROM checkpoints")["status"] == "completed"
    assert {r["state"] for r in store.all("SELECT state FROM discs")} == {"verified"}
    assert sorted(p.name for p in iso.iterdir()) == [f"RAB{cp['number']}D{k:02d}.iso" for k in sorted(before)]
    if before[1] == "written":   # complete but not verified: verified, not written again
        assert "disc 1 was written (it is verified first)" in out
        assert "writing RAB1D01" not in out and (iso / "RAB1D01.iso").stat().st_mtime_ns == at_kill["RAB1D01.iso"]
    _check_burn(lab, cfg, store, copies)


def _check_burn(lab, cfg, store, copies) -> None:
    _no_job_left_running(store)
    again = rabtui(lab, "checkpoint", "verify", "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    on_discs = {}
    for r in store.all("SELECT path, size FROM disc_files WHERE source='loc'"):
        on_discs[bytes(r["path"])] = on_discs.get(bytes(r["path"]), 0) + r["size"]
    for d, files in next(iter(copies.values())).items():
        prefix = os.fsencode(d.strip("/"))
        for rel, content in files.items():
            assert on_discs.get(os.path.join(prefix, rel)) == len(content), rel
    invariants.check_json_agrees(cfg, store)
    invariants.check_backups_hold(cfg, store, copies)
    invariants.check_catalog_is_media(cfg, store)


def test_kill_while_the_image_is_half_written(tmp_path):
    """A power cut while xorriso writes: rabtui and xorriso die (the whole process group), leaving
    a partial image, never under the disc's name; resume writes the disc again. (A machine so busy
    that the watcher misses the write altogether tries again, up to three times.)"""
    for attempt in range(3):
        root = tmp_path / f"try{attempt}"
        root.mkdir()
        lab, cfg = _burn_lab(root)
        if _half_written_then_resumed(lab, cfg, root / "iso" / "RAB1D01.iso"):
            return
    pytest.fail("the kill never found the image half written")


def _half_written_then_resumed(lab: Lab, cfg, image) -> bool:
    writing = image.with_name(image.name + xorriso.WRITING)   # where xorriso writes it
    assert rabtui(lab, "backup", "loc").returncode == 0
    store = lab.store()
    copies = {store.one("SELECT id FROM backups")["id"]: _copy(lab, cfg)}
    child = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "checkpoint",
                              "burn", "--yes", "--now"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    writers: set[int] = set()
    size = 0
    try:
        deadline = time.time() + 60
        while not writers and time.time() < deadline and child.poll() is None:
            writers = _xorriso_pids(b"-outdev", os.fsencode(writing))
        # let xorriso run in slices of half a millisecond until the image has grown, so that the
        # kill finds it half written
        while writers and not size and time.time() < deadline:
            _signal_all(writers, signal.SIGCONT)
            time.sleep(0.0005)
            _signal_all(writers, signal.SIGSTOP)
            size = writing.stat().st_size if writing.exists() else 0
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        _signal_all(writers, signal.SIGKILL)      # a power cut stops xorriso (a session of its own) too
        child.wait()
    if not size:
        return False
    assert child.returncode == -signal.SIGKILL
    partial = writing.stat().st_size
    assert store.one("SELECT state FROM discs WHERE disc=1")["state"] == "writing"
    assert not image.exists()

    resume = rabtui(lab, "checkpoint", "resume", "--yes")
    out = resume.stdout + resume.stderr
    assert resume.returncode == 0, out
    assert "found checkpoint 1 interrupted" in out and "disc 1 was writing (it is written again)" in out
    assert {r["state"] for r in store.all("SELECT state FROM discs")} == {"verified"}
    _check_burn(lab, cfg, store, copies)
    assert not writing.exists()
    return image.stat().st_size > partial


def test_xorriso_dies_with_a_killed_burn(tmp_path):
    """Killed as xorriso starts: xorriso goes too, instead of writing on into an image (or a disc
    in the burner) that the next run must write again, beside that run's own xorriso. The disc is
    large enough (48 MB) that xorriso cannot write it whole in the moment it takes to follow rabtui
    on a busy machine (a 4 MiB one was written whole before it died, now and then)."""
    lab = Lab(tmp_path, media_count=1)
    lab.with_discs("100MiB", [("data", "standard")])
    _files(lab.src / "data", {f"f{i}": os.urandom(8 << 20) for i in range(6)})
    assert rabtui(lab, "backup", "loc").returncode == 0
    _killed(rabtui(lab, "checkpoint", "burn", "--yes", "--now", point="burn.xorriso_started"))
    image = tmp_path / "iso" / "RAB1D01.iso"
    deadline = time.time() + 60
    while _xorriso_pids(b"-outdev", os.fsencode(image)) and time.time() < deadline:
        time.sleep(0.05)
    assert not _xorriso_pids(b"-outdev", os.fsencode(image))
    writing = image.with_name(image.name + xorriso.WRITING)
    left = writing.stat().st_size if writing.exists() else 0
    resume = rabtui(lab, "checkpoint", "resume", "--yes")
    assert resume.returncode == 0, resume.stdout + resume.stderr
    assert "disc 1 was writing (it is written again)" in resume.stdout + resume.stderr
    assert left < image.stat().st_size    # no whole disc was written after rabtui was gone


def test_a_burn_killed_as_it_writes_then_abandoned_leaves_no_image(tmp_path):
    """What xorriso had begun to write when the burn was killed is no disc: abandoning the
    checkpoint removes it, and what it leaves in the images folder is the verified discs alone."""
    lab, cfg = _burn_lab(tmp_path)
    assert rabtui(lab, "backup", "loc").returncode == 0
    _killed(rabtui(lab, "checkpoint", "burn", "--yes", "--now", point="burn.xorriso_started"))
    iso = tmp_path / "iso"
    assert [p.name for p in iso.iterdir()] == ["RAB1D01.iso" + xorriso.WRITING]
    done = rabtui(lab, "checkpoint", "abandon", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no disc of it was verified" in done.stdout and "no disc to burn" not in done.stdout
    assert list(iso.iterdir()) == []


def _signal_all(pids, sig) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _xorriso_pids(*needles: bytes) -> set[int]:
    out = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        args = cmd.split(b"\0")
        if args and args[0].endswith(b"xorriso") and all(any(n in a for a in args) for n in needles):
            out.add(int(pid))
    return out


def _backed_up_on_m1(tmp_path):
    """Two media; a standard and an archive directory backed up onto m1: (lab, cfg, store, the
    copies of what each backup holds)."""
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("data", "standard"), ("arch", "archive")])
    _files(lab.src / "data", {"a": b"a1"})
    _files(lab.src / "arch", {"x": b"x1"})
    assert rabtui(lab, "backup", "loc", "--medium", "m1").returncode == 0
    store = lab.store()
    return lab, cfg, store, {store.one("SELECT id FROM backups")["id"]: _copy(lab, cfg)}


def _killed_then_away(lab: Lab, cfg, source: str, copies: dict, point: str = "backup.archive_linked",
                      meanwhile=None, earlier: bool = False):
    """A run of `source` onto m1 killed in step 7 at `point` (its archive links written), then its
    next run onto m2 while m1 is not mounted (what it holds into `copies`; `meanwhile()` called
    before it), then m1 mounted again: the killed run's row. `earlier`: the run as an earlier
    rabtui left it (_as_an_earlier_rabtui_left_it)."""
    store = lab.store()
    _killed(rabtui(lab, "backup", source, "--medium", "m1", point=point))
    if meanwhile is not None:
        meanwhile()
    killed = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    if earlier:
        _as_an_earlier_rabtui_left_it(store, killed)
    away = lab.tmp / "medium1-away"
    os.rename(lab.media[0][1], away)            # the medium is not mounted
    lab.media[0][1].mkdir()
    other = rabtui(lab, "backup", source, "--medium", "m2")
    assert other.returncode == 0, other.stdout + other.stderr
    if point == "backup.archive_linked" and not earlier:     # left as it is: its transfer had ended whole
        assert f"its transfer had ended whole, as its rows say ({recovery.UNTIL_READ})" in other.stdout + other.stderr
    copies[store.one("SELECT id FROM backups ORDER BY id DESC LIMIT 1")["id"]] = _copy(lab, cfg)
    os.rmdir(lab.media[0][1])
    os.rename(away, lab.media[0][1])            # mounted again
    return killed


def transfer_not_said(backup_path) -> None:
    """The killed run's backup.json as written in step 3, its transfer not said to have ended (an
    earlier rabtui, or a medium too full for that record): the next run undoes it."""
    from rabtui.backup import records

    path = Path(backup_path) / "backup.json"
    info = json.loads(path.read_text())
    records.write_json_atomic(path, {**info, "steps": [{**s, "state": "pending"} if s["step"] >= 5 else s
                                                       for s in info["steps"]]})


def _as_an_earlier_rabtui_left_it(store, killed) -> None:
    """The killed run as a rabtui that did not yet keep the data of a run killed after its transfer
    left it, its medium away at the next run: its backup.json as written in step 3 (its transfer not
    said to have ended), its row marked abandoned by that next run's recovery, its catalog rows
    forgotten. What a medium back finds of a run marked so (abandoned_left.py)."""
    from rabtui.backup import history, records

    transfer_not_said(killed["path"])
    history.forget_catalog(store, killed)
    records.mark_abandoned(store, killed["id"], "interrupted: the run ended before it finished; its directory is"
                                                " not there (medium not mounted, or never created)")


def test_kill_then_the_medium_is_away_at_the_next_run(tmp_path):
    """The run after a kill in step 7 goes to another medium while the killed run's medium is not
    there (not mounted): it is left as it is then, and once its medium is back its archive links
    are undone and its data kept (its transfer had ended whole)."""
    lab, cfg, store, copies = _backed_up_on_m1(tmp_path)
    _files(lab.src / "arch", {"x": b"x2" * 10, "y": b"y2"})
    killed = _killed_then_away(lab, cfg, "loc", copies)

    back = rabtui(lab, "backup", "loc", "--medium", "m1")
    out = back.stdout + back.stderr
    assert back.returncode == 0, out
    assert f"({killed['name']} on medium m1" in out and "its transfer had ended whole: kept" in out, out
    assert store.one("SELECT status FROM backups WHERE id=?", (killed["id"],))["status"] == "kept"
    copies[store.one("SELECT id FROM backups ORDER BY id DESC LIMIT 1")["id"]] = _copy(lab, cfg)
    _check_after(lab, cfg, copies, killed)


def test_a_run_whose_backup_json_does_not_say_its_transfer_ended_is_said_undone_once_its_medium_is_back(tmp_path):
    """Killed after its step 5 row said ok but before its backup.json said its transfer ended whole
    (or that record not written: the medium full), its medium away at the next run: it was said "its
    data is kept once the medium is there", and once the medium was back it was undone and deleted.
    What is said names both ends; `cleanup --dry-run`, the medium back, says it would be undone."""
    lab, cfg, store, copies = _backed_up_on_m1(tmp_path)
    _files(lab.src / "arch", {"x": b"x2" * 10})
    killed = _killed_then_away(lab, cfg, "loc", copies, meanwhile=lambda: transfer_not_said(
        store.one("SELECT path FROM backups ORDER BY id DESC LIMIT 1")["path"]))
    assert store.one("SELECT state FROM backup_steps WHERE backup_id=? AND step=5", (killed["id"],))["state"] == "ok"
    dry = rabtui(lab, "cleanup", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert (f"interrupted backup loc {killed['name']} on m1 (its backup.json says running, not that its transfer"
            " ended whole: it would be undone and its directory deleted)") in dry.stdout, dry.stdout
    back = rabtui(lab, "backup", "loc", "--medium", "m1")
    out = back.stdout + back.stderr
    assert back.returncode == 0, out
    assert "its partial directory was deleted" in out, out
    assert store.one("SELECT status FROM backups WHERE id=?", (killed["id"],))["status"] == "abandoned"
    assert not Path(killed["path"]).exists()


def test_a_cleanup_undoes_the_links_of_a_run_killed_while_its_medium_was_away(tmp_path):
    """The killed run left as it was while its medium was away is recovered by a cleanup a day on,
    its medium back, before any backup of its source onto it: its links in the archive union are
    undone, its data kept. (Marked abandoned, its links stayed: the union showed a version no backup
    held and the catalog did not know, and the next backup there, finding it in the union, did not
    save it again.)"""
    from datetime import datetime, timedelta

    lab, cfg, store, copies = _backed_up_on_m1(tmp_path)
    _files(lab.src / "arch", {"x": b"x2" * 10})
    killed = _killed_then_away(lab, cfg, "loc", copies)
    later = (datetime.now() + timedelta(days=2)).isoformat(timespec="seconds")
    cleanup = rabtui(lab, "cleanup", "--now", later)
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert store.one("SELECT status FROM backups WHERE id=?", (killed["id"],))["status"] == "kept"
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch"))
    assert (union / "x").read_bytes() == b"x1"
    invariants.check_catalog_is_media(cfg, store)
    back = rabtui(lab, "backup", "loc", "--medium", "m1")
    assert back.returncode == 0, back.stdout + back.stderr
    newest = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    copies[newest["id"]] = _copy(lab, cfg)
    assert (medium_layout.backup_data_path(newest["path"], str(lab.src / "arch")) / "x").read_bytes() == b"x2" * 10
    invariants.check_backups_hold(cfg, store, copies)
    invariants.check_catalog_is_media(cfg, store)


def test_a_run_killed_complete_while_its_medium_is_away_stays_complete(tmp_path):
    """A run killed once its backup.json said complete (its row not yet: or the state directory
    full then), and its medium away (offsite, as rotation has it) at the next run: that backup is
    complete on its medium, and stays so once the medium is back, its files in the archive union
    and the catalog. It was marked abandoned with its catalog rows forgotten, and deleted with its
    links when the medium came back: a file only it saved, dropped by the source meanwhile, was
    on no medium any more."""
    lab, cfg, store, copies = _backed_up_on_m1(tmp_path)
    _files(lab.src / "data", {"a": b"a2" * 10})
    _files(lab.src / "arch", {"x": b"x2" * 10, "only": b"saved once"})
    at_kill = _copy(lab, cfg)

    def dropped():
        os.unlink(lab.src / "arch" / "only")

    killed = _killed_then_away(lab, cfg, "loc", copies, point="backup.json_written", meanwhile=dropped)
    copies[killed["id"]] = at_kill
    back = rabtui(lab, "backup", "loc", "--medium", "m1")
    assert back.returncode == 0, back.stdout + back.stderr
    assert store.one("SELECT status FROM backups WHERE id=?", (killed["id"],))["status"] == "completed"
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch"))
    assert (union / "only").read_bytes() == b"saved once"
    copies[store.one("SELECT id FROM backups ORDER BY id DESC LIMIT 1")["id"]] = _copy(lab, cfg)
    _check_after(lab, cfg, copies, killed)


@pytest.mark.parametrize("point", faults.COPY_AGAIN_POINTS)
def test_kill_while_directories_are_copied_again(tmp_path, point):
    """A directory of the source that was a symlink to the server's files in the older backup (and in
    the archive's union) is a directory of look-alikes now: the first rsync may link the server's
    files below it, before rabtui copies it again. Killed there, the next run throws the partial
    backup away; no backup, union or restore ever holds a server file, which stays as it was."""
    outside = tmp_path / "server"
    outside.mkdir()
    secret = outside / "shadow"
    secret.write_bytes(b"SERVER SECRET")
    os.utime(secret, (1_577_836_800, 1_577_836_800))
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard"), ("arch", "archive")])
    for d in ("data", "arch"):
        _files(lab.src / d, {"keep": d.encode()})
        os.symlink(outside, lab.src / d / "e")
    assert rabtui(lab, "backup", "loc").returncode == 0
    store = lab.store()
    b1 = store.one("SELECT * FROM backups")
    copies = {b1["id"]: _copy(lab, cfg)}
    for d in ("data", "arch"):
        os.unlink(lab.src / d / "e")
        (lab.src / d / "e").mkdir()
        look_alike = lab.src / d / "e" / "shadow"
        look_alike.write_bytes(b"SOURCE'S OWN!")
        os.chmod(look_alike, secret.stat().st_mode)
        os.utime(look_alike, (1_577_836_800, 1_577_836_800))

    tmp = tmp_path / "tmp"      # the run's temporary files: nothing outlives it there
    tmp.mkdir()
    _killed(rabtui(lab, "backup", "loc", point=point, tmpdir=tmp))
    assert not os.listdir(tmp)
    killed = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert killed["status"] == "running"
    # the first rsync linked the server's file into the partial backup; then it was removed
    assert secret.stat().st_nlink == (2 if point == "backup.copy_again" else 1)

    after = rabtui(lab, "backup", "loc")
    out = after.stdout + after.stderr
    assert after.returncode == 3, out          # warnings: the symlinks pointed out of the basis
    assert f"found an interrupted backup of loc ({killed['name']}" in out and ("was a symlink out of" in out or "were symlinks out of" in out)
    newest = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert newest["status"] == "warnings" and newest["link_dest"] == b1["id"]
    copies[newest["id"]] = _copy(lab, cfg)
    _check_after(lab, cfg, copies, killed)
    assert secret.read_bytes() == b"SERVER SECRET" and secret.stat().st_nlink == 1
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch"))
    assert (union / "e" / "shadow").read_bytes() == b"SOURCE'S OWN!" and not (union / "e").is_symlink()
