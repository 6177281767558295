"""A run killed once its backup.json said complete (its step 7 ended: its files are linked into
the archive union), on a medium then taken out of the config and away (offsite): the next backup's
recovery cannot look at that medium, finds no directory at the run's path, and marks the run
abandoned. Put back, the medium holds that run complete. The next backup onto it deleted it then
(with its union links), and with it the only copy of a file the source had dropped meanwhile. It
is kept now, said, never a base, until rebuild-state records it as its backup.json says. Real
backups (rsync), the kill a real SIGKILL at the fault point."""

from __future__ import annotations

import os

from rabtui.media import medium_layout
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
    (lab.src / "arch" / "y").unlink()      # the source drops y
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    row = lab.store().one("SELECT status FROM backups WHERE medium='m2' AND name=?", (name,))
    assert row["status"] == "abandoned"
    os.rename(tmp_path / "away", m2)       # back, and in the config again
    lab.media = both
    cfg = lab.local([("arch", "archive")])
    lab.events.clear()
    assert lab.backup(cfg, medium_id="m2").status == "completed"
    assert medium_layout.read_backup_json(m2 / "loc" / name)["status"] == "completed"
    y = medium_layout.backup_data_path(m2 / "loc" / name, str(lab.src / "arch")) / "y"
    assert y.read_bytes() == b"only in the killed run"
    assert any(f"{name} on medium m2 was marked abandoned" in m and "rebuild-state" in m for m in lab.messages()), \
        lab.messages()
