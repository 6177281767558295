"""rebuild-state and a backup copied by hand (`cp -a`) from one medium onto another: its backup.json
names the medium that holds the original, so it is not taken as the other medium's (exit 3, named
with the way out); the medium's own backups keep their ids. Real backups onto two directory media."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta

from rabtui.cli import main
from tests.trees import Lab, write_files

T0 = datetime(2026, 9, 1, 3, 0)


def test_a_backup_copied_from_another_medium_is_not_taken_as_this_ones(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"v1"})
    b1 = lab.backup(cfg, now=T0, medium_id="m1")
    (lab.src / "data" / "a").write_bytes(b"v22")
    b2 = lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m2")
    assert (b1.status, b2.status) == ("completed", "completed")
    m2 = lab.media[1][1]
    subprocess.run(["cp", "-a", str(b1.path), str(m2 / "loc")], check=True)
    lab.store().close()
    lab.lose_database()

    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 3
    out = capsys.readouterr().out
    assert f"medium m2: loc/{b1.path.name}: a copy of medium m1's backup {b1.path}" in out, out
    assert "renumbered" not in out, out
    rows = [tuple(r) for r in lab.store().all("SELECT id, medium, name FROM backups ORDER BY id")]
    assert rows == [(b1.backup_id, "m1", b1.path.name), (b2.backup_id, "m2", b2.path.name)]
    assert json.loads((b2.path / "backup.json").read_text())["backup_id"] == b2.backup_id
