"""The sizes of a backup whose transfer failed say what its directory holds: rsync names a file
(`>f+++`) as its data begins to come, so the file under way when the source's ssh was killed was
counted, while rsync removed its part on the way out. `status` said "failed, total 1.9 MiB, new
1.9 MiB" of a backup whose data directory held no file. Real sshd, real rsync, a real kill."""

from __future__ import annotations

import os
import signal
import threading
import time

from rabtui.cli import main
from rabtui.media import medium_layout
from tests.procs import processes, signalled, stat_fields
from tests.trees import Lab, ssh_source_lines, write_files


def _descends_from_us(pid: int) -> bool:
    me = os.getpid()
    while pid > 1:
        try:
            pid = int(stat_fields(pid)[1])
        except (OSError, ValueError):
            return False
        if pid == me:
            return True
    return False


def _our_ssh(port: int) -> list[int]:
    """The ssh processes of this test's run (its children's children too) to `port`."""
    return [pid for pid, argv in processes()
            if argv[0].endswith(b"ssh") and any(str(port).encode() in a for a in argv) and _descends_from_us(pid)]


def _kill_ssh_once_writing(medium, port: int, done: threading.Event) -> None:
    """Once rsync writes a file's part (`.NAME.XXXXXX`) into a backup on `medium`, the run's ssh killed."""
    deadline = time.monotonic() + 60
    while not done.is_set() and time.monotonic() < deadline:
        if any(p.name.startswith(".") for p in medium.glob("web/backup-*/data/**/*")):
            for pid in _our_ssh(port):
                signalled(pid, signal.SIGKILL)      # one may have ended since it was listed
            return
        time.sleep(0.02)


def test_a_transfer_killed_with_its_ssh_claims_no_file_it_does_not_hold(tmp_path, sshd, capsys):
    lab = Lab(tmp_path, media_count=1)
    data = lab.src / "data"
    write_files(data, {"big": os.urandom(2 << 20)})    # at 256 KiB/s: 8 s, killed within the first
    cfg = lab.write(ssh_source_lines(sshd) + 'bwlimit = "256K"\n' + f'[[sources.directories]]\npath = "{data}"\n')
    lab.trust(sshd)
    done = threading.Event()
    watcher = threading.Thread(target=_kill_ssh_once_writing, args=(lab.media[0][1], sshd.port, done))
    watcher.start()
    try:
        result = lab.backup(cfg, "web", medium_id="m1")
    finally:
        done.set()
        watcher.join()
    assert result.status == "failed" and "connection unexpectedly closed" in result.reason, result
    held = [p for p in medium_layout.backup_data_path(result.path, str(data)).rglob("*") if p.is_file()]
    held_bytes = sum(p.stat().st_size for p in held)
    assert (result.total_bytes, result.new_bytes) == (held_bytes, held_bytes), (result, held)
    row = lab.store().one("SELECT total_bytes, new_bytes, files FROM backups WHERE id=?", (result.backup_id,))
    assert (row["total_bytes"], row["new_bytes"], row["files"]) == (held_bytes, held_bytes, len(held)), dict(row)
    assert main(["--config", str(lab.config_path), "status"]) == 0
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("  web ")][0]
    assert line.startswith("  web (127.0.0.1): failed") and "MiB" not in line, line
