"""A frozen state for snapshot tests: fixed config, fixed rows, a fixed clock, UTC."""

from __future__ import annotations

import json
import os
import textwrap
import time

from rabtui.state import locks
from rabtui.backup.records import STEPS
from rabtui.state.store import Store

NOW = 1795327200.0            # 2026-11-22 06:00 UTC
H = 3600.0
_LIVE: list[locks.Lock] = []   # the locks of the burns shown as live


TREE = {"etc/hosts": 220, "etc/fstab": 1_024, "etc/ssh/sshd_config": 3_264, "etc/ssh/ssh_host_ed25519_key.pub": 96,
        "srv/photos/2026/11/IMG_4711.jpg": 4_194_304, "srv/photos/2026/11/IMG_4712.jpg": 3_980_112}


def _tree(tmp_path, source: str, medium: str, name: str) -> str:
    """A small backup on disk (fixed names, sizes and times) for Browse to open."""
    backup = tmp_path / "media" / medium / source / name
    for rel, size in TREE.items():
        path = backup / "data" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
    for path in sorted(backup.rglob("*"), key=lambda p: -len(p.parts)):    # the deepest first
        os.utime(path, (NOW - 3 * 86400, NOW - 3 * 86400))
    return str(backup)


def browsable(tmp_path, monkeypatch) -> None:
    """Browse reads the backups of the media at /nonexistent (the paths the pictures show) from
    their trees in `tmp_path` (_tree): no test may make /nonexistent, and a backup is never read
    off its medium's path (media/at_hand.moved_away)."""
    from rabtui.tui import tree

    real = tree.data_root
    monkeypatch.setattr(tree, "data_root", lambda backup: real(backup and {
        **backup, "path": backup["path"].replace("/nonexistent/", f"{tmp_path}/media/", 1)}))


def make(tmp_path) -> "os.PathLike":
    """The config path; the caller sets TZ=UTC (see the `utc` fixture in test_snapshots.py)."""
    cfg = tmp_path / "rabtui.toml"
    cfg.write_text(textwrap.dedent(f"""
        [rabtui]
        state_dir = "{tmp_path}/state"
        [checkpoint]
        disc = "cd-700"
        drive = "images:{tmp_path}/iso"
        [[media]]
        id = "usb-a"
        path = "/nonexistent/usb-a"
        [[media]]
        id = "usb-b"
        path = "/nonexistent/usb-b"
        [[sources]]
        id = "web1"
        host = "web1.example.com"
        user = "backup"
        schedule = "0 2 * * *"
        [[sources.directories]]
        path = "/etc"
        [[sources.directories]]
        path = "/srv/photos"
        kind = "archive"
        max_changed_files = 500
        [[sources]]
        id = "db1"
        host = "db1.example.com"
        [[sources.directories]]
        path = "/var/lib/mysql-dumps"
    """))
    cfg.chmod(0o600)
    s = Store(tmp_path / "state")
    s.execute("INSERT INTO media(id, last_used) VALUES ('usb-a', ?), ('usb-b', ?)", (NOW - 2 * H, NOW - 26 * H))
    backups = [
        (1, "web1", "usb-b", "backup-20261121000000", "completed", NOW - 26 * H, 3_200_000_000, 3_200_000_000, 41_000),
        (2, "db1", "usb-b", "backup-20261121001000", "failed", NOW - 25.8 * H, None, None, None),
        (3, "web1", "usb-a", "backup-20261121220000", "completed", NOW - 2 * H, 3_300_000_000, 96_000_000, 41_200),
        (4, "db1", "usb-a", "backup-20261121221000", "warnings", NOW - 1.8 * H, 820_000_000, 820_000_000, 12),
    ]
    for b in backups:
        if b[0] == 3:
            _tree(tmp_path, *b[1:4])    # browsable (see browsable)
        path = f"/nonexistent/{b[2]}/{b[1]}/{b[3]}"
        s.execute("INSERT INTO backups(id, source, medium, name, path, status, started, finished, total_bytes,"
                  " new_bytes, files, job_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                  (b[0], b[1], b[2], b[3], path, b[4], b[5], b[5] + 300, b[6], b[7], b[8], b[0]))
        s.execute("INSERT INTO jobs(id, kind, target, title, status, started, finished, exit_code, summary)"
                  " VALUES (?, 'backup', ?, ?, ?, ?, ?, ?, ?)",
                  (b[0], b[1], f"backup {b[1]}", b[4], b[5], b[5] + 300, 0 if b[4] == "completed" else 1, ""))
    for backup_id, path, kind in [(1, "/etc", "standard"), (1, "/srv/photos", "archive"), (3, "/etc", "standard"),
                                  (3, "/srv/photos", "archive"), (4, "/var/lib/mysql-dumps", "standard")]:
        s.execute("INSERT INTO backup_dirs(backup_id, path, kind, state) VALUES (?,?,?,'ok')", (backup_id, path, kind))
    # a backup running now, in this process (so its pid is alive: its heartbeat, of the real clock,
    # is of this process's lifetime), at step 5
    s.execute("INSERT INTO jobs(id, kind, target, title, status, started, heartbeat, pid, progress)"
              " VALUES (5, 'backup', 'web1', 'backup web1', 'running', ?, ?, ?, ?)",
              (NOW - 95, time.time(), os.getpid(), json.dumps({"done_bytes": 1_400_000_000, "total_bytes": 3_300_000_000,
                                                         "percent": 42.4, "rate": 31_500_000, "eta": 60,
                                                         "files_done": 18_420, "files_total": 41_200,
                                                         "current": "srv/photos/2026/11/IMG_4711.jpg"})))
    s.execute("INSERT INTO backups(id, source, medium, name, path, status, started, job_id)"
              " VALUES (6, 'web1', 'usb-b', 'backup-20261122000000', '/nonexistent/usb-b/web1/backup-20261122000000',"
              " 'running', ?, 5)", (NOW - 95,))
    for i, name in enumerate(STEPS, 1):
        state = "ok" if i < 5 else ("running" if i == 5 else "pending")
        s.execute("INSERT INTO backup_steps(backup_id, step, name, state) VALUES (6,?,?,?)", (i, name, state))
    for i, msg in enumerate(["step 1/7 source reachable: ok (backup on web1.example.com)",
                             "step 2/7 destination reachable: ok (medium usb-b)",
                             "step 5/7 rsync: /etc", "step 5/7 rsync: /srv/photos"], 1):
        s.execute("INSERT INTO events(job_id, ts, kind, message, data) VALUES (5, ?, 'log', ?, '{}')", (NOW - 90 + i, msg))
    s.execute("INSERT INTO dir_state(source, path, changed_since_checkpoint, last_checkpoint, last_checkpoint_time)"
              " VALUES ('web1', '/srv/photos', 812, 3, ?), ('web1', '/etc', 40, 3, ?),"
              " ('db1', '/var/lib/mysql-dumps', 12, 2, ?)", (NOW - 20 * 86400, NOW - 20 * 86400, NOW - 120 * 86400))
    MiB = 1024 * 1024
    plan = {"summary": {"disc_type": "cd-700", "disc_bytes": 359846 * 2048, "lower_bound": 4, "per_disc": [{"disc": k, "data_bytes": d * MiB, "filler_bytes": f * MiB, "reserved_bytes": 2 * MiB,
                       "free_bytes": (700 - 2 - d - f) * MiB, "files": 1000}
                      for k, (d, f) in enumerate([(690, 0), (688, 0), (612, 80), (240, 300)], 1)]}}
    s.execute("INSERT INTO checkpoints(number, created, status, disc_type, disc_sectors, drive, discs, lower_bound, plan)"
              " VALUES (4, ?, 'burning', 'cd-700', 359846, 'images:iso', 4, 4, ?)", (NOW - 600, json.dumps(plan)))
    for k, state in enumerate(["verified", "verified", "writing", "planned"], 1):
        s.execute("INSERT INTO discs(number, disc, volid, state) VALUES (4, ?, ?, ?)", (k, f"RAB4D{k:02d}", state))
    s.close()
    # checkpoint 4 is being burnt: a live job holds its drive and the checkpoint (without one it
    # reads "interrupted")
    _LIVE.append(locks.drive_lock(tmp_path / "state", "images:iso").acquire())
    _LIVE.append(locks.checkpoint_lock(tmp_path / "state", 4).acquire())
    return cfg
