"""A run killed once its backup.json said complete (its step 7 ended: its files are linked into
the archive union), on a medium then taken out of the config and away (offsite): the next backup's
recovery cannot look at that medium. It marked the run abandoned, and put back, the medium held
that run complete: the next backup onto it deleted it then (with its union links), and with it the
only copy of a file the source had dropped meanwhile. A medium out of the config is never looked
at: the run stays as it is, said, until a backup onto the medium, back in the config, records it
as its backup.json says. Real backups (rsync), the kill a real SIGKILL at the fault point."""

from __future__ import annotations

import os

from rabtui.actions import runs_shown, status
from rabtui.media import medium_layout
from rabtui.state import jobs
from tests.test_kill_anywhere import _files, rabtui
from tests.trees import Lab


def test_a_complete_run_marked_abandoned_while_its_medium_was_away_is_kept(tmp_path):
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("arch", "archive")])
    _files(lab.src / "arch", {"x": b"x1"})
    assert lab.backup(cfg, medium_id="m2").status == "completed"
    _files(lab.src / "arch", {"y": b"only in the killed run"})
    assert rabtui(lab, "backup", "loc", "--medium", "m2", point="backup.json_written").returncode == -9
    m2, both = lab.media[1][1], lab.media
    name = max(n for n in os.listdir(m2 / "loc") if n.startswith("backup-"))
    assert medium_layout.read_backup_json(m2 / "loc" / name)["status"] == "completed"
    os.rename(m2, tmp_path / "away")       # offsite, and taken out of the config
    lab.media = both[:1]
    cfg = lab.local([("arch", "archive")])
    # shown for what it is, not as a run its source's next backup recovers (none looks at m2)
    last = status.sources(cfg, lab.store())[0].last
    assert last["name"] == name and last["status"] == "interrupted" and "m2 is not in the config" in last["reason"]
    (lab.src / "arch" / "y").unlink()      # the source drops y
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    row = lab.store().one("SELECT status FROM backups WHERE medium='m2' AND name=?", (name,))
    assert row["status"] == "running"
    assert any(name in m and "m2 is not in the config" in m and "left as it is" in m for m in lab.messages())
    shown = {b["name"]: b for b in runs_shown.source_backups(cfg, lab.store(), "loc")}     # Browse's list
    assert shown[name]["status"] == "interrupted" and "m2 is not in the config" in shown[name]["reason"]
    assert {b["status"] for n, b in shown.items() if n != name} == {"completed"}
    os.rename(tmp_path / "away", m2)       # back, and in the config again
    lab.media = both
    cfg = lab.local([("arch", "archive")])
    lab.events.clear()
    assert lab.backup(cfg, medium_id="m2").status == "completed"
    assert medium_layout.read_backup_json(m2 / "loc" / name)["status"] == "completed"
    y = medium_layout.backup_data_path(m2 / "loc" / name, str(lab.src / "arch")) / "y"
    assert y.read_bytes() == b"only in the killed run"
    assert lab.store().one("SELECT status FROM backups WHERE medium='m2' AND name=?", (name,))["status"] == "completed"
    assert any(name in m and "its backup.json says completed; recorded as such" in m for m in lab.messages()), \
        lab.messages()


def test_a_run_killed_on_a_medium_taken_out_of_the_config_is_left_on_it(tmp_path):
    """A run killed as it linked its new files into the union of a medium that the config then
    dropped, the disk still mounted at its old path: the next backup's recovery took that path as
    the medium's, undid the run's links there and deleted its directory: it deleted on a disk that
    is no medium of the config (whatever disk is there now). It leaves the run as it is, nothing
    there touched (its transfer had ended whole), and the medium, back in the config, has its links
    undone and its data kept by its next backup."""
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("arch", "archive")])
    _files(lab.src / "arch", {"x": b"x1"})
    assert lab.backup(cfg, medium_id="m2").status == "completed"
    _files(lab.src / "arch", {"y": b"y1", "z": b"z1"})
    assert rabtui(lab, "backup", "loc", "--medium", "m2", point="union.linked").returncode == -9
    m2, both = lab.media[1][1], lab.media
    name = max(n for n in os.listdir(m2 / "loc") if n.startswith("backup-"))
    union = medium_layout.archive_root(m2, "loc", str(lab.src / "arch"))
    linked = sorted(os.listdir(union))
    assert len(linked) > 1       # x, and what the run linked before it was killed
    lab.media = both[:1]         # out of the config, still mounted where it was
    cfg = lab.local([("arch", "archive")])
    lab.events.clear()
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    row = lab.store().one("SELECT status, reason FROM backups WHERE medium='m2' AND name=?", (name,))
    assert row["status"] == "running", dict(row)
    assert (m2 / "loc" / name).is_dir() and sorted(os.listdir(union)) == linked
    assert any(name in m and "m2 is not in the config" in m for m in lab.messages()), lab.messages()
    lab.media = both             # back in the config: its next backup undoes the run there
    cfg = lab.local([("arch", "archive")])
    assert lab.backup(cfg, medium_id="m2").status == "completed"
    row = lab.store().one("SELECT status FROM backups WHERE medium='m2' AND name=?", (name,))
    assert row["status"] == "kept" and (m2 / "loc" / name).is_dir()
    assert {n: (union / n).read_bytes() for n in os.listdir(union)} == {"x": b"x1", "y": b"y1", "z": b"z1"}


def test_a_run_killed_of_a_source_taken_out_of_the_config_is_shown_for_the_cleanup_to_recover(tmp_path):
    """The Media screen lists a killed run of a source the config dropped since: it said the next
    backup of that source recovers it (none comes); a cleanup does (or says what it needs: one
    killed in its step 7, the source back in the config)."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("arch", "archive")])
    _files(lab.src / "arch", {"x": b"x1"})
    assert rabtui(lab, "backup", "loc", "--medium", "m1", point="backup.rsync_ended").returncode == -9
    cfg = lab.local([("data", "standard")], source_id="other")
    jobs.refresh_dead(lab.store())      # as the screens' refresh does: the killed run's job is dead
    [shown] = runs_shown.medium_backups(cfg, lab.store(), "m1")
    assert shown["status"] == "interrupted" and "loc is not in the config" in shown["reason"], shown["reason"]
    assert "next cleanup" in shown["reason"] and "next backup" not in shown["reason"], shown["reason"]
    done = rabtui(lab, "cleanup")
    assert done.returncode == 0, done.stdout + done.stderr
    row = lab.store().one("SELECT status, path FROM backups")
    assert row["status"] == "abandoned" and not os.path.exists(row["path"]), done.stdout + done.stderr
