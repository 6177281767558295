"""`diff` names two backups to compare from the catalog: one that did not complete (failed before
rsync wrote anything, or still running) holds nothing on its medium, yet the catalog's versions run
across its id, so a diff against it listed the files of the backups around it as its own (exit 0).
It is refused as restore refuses it; kept data (post-backup commands failed after rsync) is compared."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from rabtui.cli import main
from tests.trees import Lab, gate_command, write_files

T0 = datetime(2026, 7, 1, 3, 0)


def test_a_backup_that_did_not_complete_is_refused_by_diff(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    gate = tmp_path / "gate"
    cfg = lab.local(extra=f'pre_backup_commands = ["test -e {tmp_path}/fail && exit 1; {gate_command(gate)}"]')
    gate.touch()
    write_files(lab.src / "data", {"a": b"1", "b": b"2"})
    first = lab.backup(cfg, now=T0)
    (tmp_path / "fail").touch()
    failed = lab.backup(cfg, now=T0 + timedelta(days=1))
    (tmp_path / "fail").unlink()
    (lab.src / "data" / "a").write_bytes(b"one")
    last = lab.backup(cfg, now=T0 + timedelta(days=2))
    assert (first.status, failed.status, last.status) == ("completed", "failed", "completed")
    assert not [p for p in failed.path.rglob("*") if p.is_file() and p.parent != failed.path]     # no file of the source
    gate.unlink()
    running = threading.Thread(target=lab.backup, args=(cfg,), kwargs=dict(now=T0 + timedelta(days=3)))
    running.start()
    try:
        store = lab.store()
        while store.one("SELECT 1 FROM backups WHERE status='running'") is None:
            running.join(0.05)
        run_name = store.one("SELECT name FROM backups WHERE status='running'")["name"]
        capsys.readouterr()
        for name, status in ((failed.path.name, "failed"), (run_name, "running")):
            for pair in ((name, last.path.name), (first.path.name, name)):
                assert main(["--config", str(lab.config_path), "diff", "loc", *pair]) == 2
                said = capsys.readouterr()
                assert f"rabtui: backup {name} of loc is {status}, not complete" in said.err, said
                assert "added" not in said.out, said
    finally:
        gate.touch()
        running.join()
    assert main(["--config", str(lab.config_path), "diff", "loc", first.path.name, last.path.name]) == 0
    assert "~ " in capsys.readouterr().out
