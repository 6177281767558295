"""Four sources backed up at once by one process (`backup --all`, max_parallel 4, each a thread of
its own), two of them with archive directories, when their medium (to its last block and inode)
and the state directory fill up while they run: each says how it ended on the medium (failed, or
completed where its step 7 still found room), none that kept room for its last record leaves its
backup.json `running` unless its transfer had ended whole (the data then kept by the next run),
what step 7 linked into an archive union is undone, no traceback; once there is room, the next
run of each records it so and the media and the catalog agree. Which of
them gets how far before the fill is the threads' race: every outcome is checked for what it
must hold."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time

from rabtui.backup.records import transfer_whole
from tests import invariants
from tests.test_full_medium_final_record import _fill_inodes
from tests.test_medium_identity import _killed, _rabtui, _stopped_at
from tests.trees import Lab, fill_up, write_files


def _union(lab: Lab, sid: str) -> dict[str, str]:
    out = {}
    for dirpath, _, names in os.walk(lab.media[0][1] / sid / ".archive"):
        for name in names:
            with open(os.path.join(dirpath, name)) as f:
                out[name] = f.read()
    return out


SOURCES = [("one", "archive"), ("two", "standard"), ("three", "archive"), ("four", "standard")]


def test_four_sources_at_once_whose_medium_and_state_directory_fill_up(tmp_path, tmpfs):
    lab = Lab(tmp_path, media_count=1)
    medium = tmpfs(lab.media[0][1], "size=16m,nr_inodes=2000")
    lab.state = tmpfs(tmp_path / "small", "size=8m") / "state"
    lab.write("".join(lab._local_source([(sid, kind)], "", sid) for sid, kind in SOURCES))
    for sid, _ in SOURCES:
        write_files(lab.src / sid, {f"{sid}-{n}": f"{sid}{n}" * 100 for n in range(20)})
    assert _rabtui(lab, "backup", "--all").returncode == 0
    before = {sid: _union(lab, sid) for sid, kind in SOURCES if kind == "archive"}
    for sid, _ in SOURCES:
        write_files(lab.src / sid, {f"{sid}-new-{n}": f"new{n}" * 100 for n in range(20)})
    run = None
    try:
        run = _stopped_at(lab, "backup.step6", "backup", "--all")
        fill_up(medium / "filler")
        _fill_inodes(medium / "inodes")
        fill_up(lab.state.parent / "filler")
        deadline = time.monotonic() + 120
        while run.poll() is None:      # each thread that reaches step 6 stops the process again
            assert time.monotonic() < deadline
            run.send_signal(signal.SIGCONT)
            time.sleep(0.1)
        out = run.communicate(timeout=60)[0].decode()
    finally:
        _killed(run)
    assert run.returncode != 0 and "Traceback" not in out, out
    os.unlink(lab.state.parent / "filler")
    store = lab.store()
    rows = [dict(r) for r in store.all("SELECT * FROM backups WHERE id > 4 ORDER BY id")]
    # a source whose run had not begun its record when the state directory filled up fails before it,
    # named, or the run stops once they have all ended, saying that the state database is full
    begun = {row["source"] for row in rows}
    assert begun and (all(sid in begun or f"rabtui: {sid}: " in out for sid, _ in SOURCES)
                      or "rabtui: the state database" in out), (rows, out)
    ended = {}
    for row in rows:
        record = os.path.join(row["path"], "backup.json")
        if not os.path.exists(record):      # the medium or the state directory full before its step 3
            assert row["status"] in ("running", "failed"), (row, out)
            ended[row["source"]] = None
            continue
        with open(record, encoding="utf-8") as f:
            said = json.load(f)
        ended[row["source"]] = said["status"]
        if transfer_whole(said):
            # its state database full in step 7, its transfer whole: left so (the room kept for its
            # final record with it) for the next run to keep the data
            assert row["status"] == "running", row
            ended[row["source"]] = "kept"
            continue
        if ended[row["source"]] == "running":
            # its step 3 wrote its first record, with the medium too full to keep room for another: as
            # a run killed there, the next run of its source undoes it
            assert row["status"] == "running", row
            ended[row["source"]] = None
        elif ended[row["source"]] == "failed":
            assert row["status"] in ("running", "failed"), row
        else:   # its step 7 still found room (the room kept for its record, SQLite's -wal reused): complete
            assert ended[row["source"]] == "completed" and row["status"] in ("running", "completed"), (row, out)
        assert not [n for n in os.listdir(row["path"]) if n.startswith("backup.json.")], os.listdir(row["path"])
    assert {sid: _union(lab, sid) for sid in before if ended.get(sid) != "completed"} == {
        sid: union for sid, union in before.items() if ended.get(sid) != "completed"}
    os.unlink(medium / "filler")
    shutil.rmtree(medium / "inodes")
    for sid, _ in SOURCES:
        done = _rabtui(lab, "backup", sid)
        assert done.returncode == 0, done.stdout + done.stderr
    store = lab.store()
    for r in rows:      # one with no record at all, as a run killed before it wrote one
        assert store.one("SELECT status FROM backups WHERE id=?", (r["id"],))["status"] in (
            (ended[r["source"]],) if ended[r["source"]] else ("failed", "abandoned")), r
    invariants.check_json_agrees(lab.load(), store)
    invariants.check_catalog_is_media(lab.load(), store)
