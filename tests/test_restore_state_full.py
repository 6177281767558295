"""A restore when the state directory is full (a real small tmpfs filled to its last byte, real
rsync backups): it is what an operator does in an emergency, and the state database only records
it. It restored nothing ("the state directory is full", exit 1); now it restores, says that its
record could not be written, and ends with exit 3. With room again the database works as before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import timedelta

from tests import preloaded
from tests.test_state_dir_full import _lab_on, _rabtui
from tests.trees import Lab, burn_due, fill_up, write_files


def test_a_restore_restores_when_the_state_directory_is_full_and_says_it_is_not_recorded(tmp_path, tmpfs):
    lab = _lab_on(tmp_path, tmpfs, "size=6m")
    data = lab.src / "data"
    os.unlink(data / "a")
    (data / "b/c").unlink()
    store = lab.store()
    jobs = len(store.all("SELECT id FROM jobs"))
    store.close()      # no connection left open: the -wal and -shm gone, as between two runs
    fill_up(lab.state.parent / "filler")

    onto = _rabtui(lab, "restore", "loc", str(data / "a"), "--to-source")
    into = _rabtui(lab, "restore", "loc", str(data / "b"), "--to", str(tmp_path / "out"), "--json")
    for done in (onto, into):
        assert done.returncode == 3 and "Traceback" not in done.stderr, done.stdout + done.stderr
        assert "restore's record could not be written" in done.stderr and "is full" in done.stderr, done.stderr
    assert len((data / "a").read_bytes()) == 300
    assert (tmp_path / "out" / str(data).lstrip("/") / "b/c").read_bytes() == b"x"
    said = json.loads(into.stdout)
    assert said["exit_code"] == 3 and any("restore's record could not be written" in w for w in said["warnings"]), said

    os.unlink(lab.state.parent / "filler")
    again = _rabtui(lab, "restore", "loc", str(data / "b"), "--to", str(tmp_path / "again"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(lab.store().all("SELECT id FROM jobs")) >= jobs + 1
    assert _rabtui(lab, "status").returncode == 0


def test_a_restore_from_discs_onto_the_source_restores_when_the_state_directory_is_full(tmp_path, tmpfs):
    """The discs were extracted into the state directory before a restore wrote them onto the
    source: full, it failed (--to DIR extracts beside the target). Now they are extracted in a
    private directory of the temporary directory, removed after."""
    lab = Lab(tmp_path, media_count=1)
    lab.state = tmpfs(tmp_path / "small", "size=16m") / "state"
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"f": b"on the disc" * 1000, "sub/g": b"g"})
    assert lab.backup(cfg).status == "completed"
    burn_due(cfg, lab.store())
    lab.store().close()
    (data / "f").unlink()
    (data / "sub/g").unlink()
    fill_up(lab.state.parent / "filler")
    tmp = tmp_path / "tmp"
    tmp.mkdir()

    done = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "restore", "loc",
                          str(data), "--checkpoint", "1", "--to-source", "--overwrite"],
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                         env={**os.environ, "TMPDIR": str(tmp)})
    assert done.returncode == 3 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert "restore's record could not be written" in done.stderr, done.stderr
    assert (data / "f").read_bytes() == b"on the disc" * 1000 and (data / "sub/g").read_bytes() == b"g"
    assert os.listdir(tmp) == [] and not [n for n in os.listdir(lab.state) if n.startswith(".rabtui")]


def test_an_archive_directory_onto_an_ssh_source_is_put_together_elsewhere_when_the_state_directory_is_full(
        tmp_path, tmpfs, sshd, monkeypatch):
    """Files of an archive directory as an older backup had them are put together before rsync
    sends them: that was in the state directory, and failed when it was full; now in a private
    directory of the temporary directory, removed after."""
    from rabtui.restore import run as R
    from tests.test_restore_onto_ssh_source import T0, _lab as ssh_lab

    lab, cfg, photos = ssh_lab(tmp_path, sshd, {"2025/a.jpg": b"A" * 100}, kind="archive")
    lab.state = tmpfs(tmp_path / "small", "size=6m") / "state"
    lab.config_path.write_text(lab.config_path.read_text().replace(str(tmp_path / "state"), str(lab.state)))
    lab.trust(sshd)
    cfg = lab.load()
    b1 = lab.backup(cfg, "web", now=T0)
    write_files(photos, {"2025/a.jpg": b"a" * 120})
    assert lab.backup(cfg, "web", now=T0 + timedelta(days=1)).status == b1.status == "completed"
    (photos / "2025/a.jpg").unlink()
    store = lab.store()
    fill_up(lab.state.parent / "filler")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    res = R.restore(cfg, store, "web", str(photos), backup=b1.path.name, to_source=True)
    assert (photos / "2025/a.jpg").read_bytes() == b"A" * 100 and not res.written.problems()
    assert os.listdir(tmp) == [] and not [n for n in os.listdir(lab.state) if n.startswith(".rabtui")]


def test_a_temporary_directory_others_can_change_is_named_as_why_staging_stays_in_the_full_state_directory(
        tmp_path, tmpfs):
    """The state directory full and TMPDIR one other users can change: staging fell back to the full
    state directory without a word (the reason dropped), and the restore failed for want of room."""
    lab = Lab(tmp_path, media_count=1)
    lab.state = tmpfs(tmp_path / "small", "size=16m") / "state"
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"f": b"on the disc" * 1000})
    assert lab.backup(cfg).status == "completed"
    burn_due(cfg, lab.store())
    lab.store().close()
    (data / "f").unlink()
    fill_up(lab.state.parent / "filler")
    tmp = tmp_path / "open-to-all"
    tmp.mkdir()
    tmp.chmod(0o777)

    done = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "restore", "loc",
                          str(data), "--checkpoint", "1", "--to-source", "--overwrite"],
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                         env={**os.environ, "TMPDIR": str(tmp)})
    assert "Traceback" not in done.stderr, done.stderr
    said = done.stdout + done.stderr
    assert f"the temporary directory {tmp}: {tmp} is writable by everyone" in said and "staged in the state directory" in said, \
        said
    assert os.listdir(tmp) == []
