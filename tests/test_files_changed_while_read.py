"""A file that shrinks or grows while rsync reads it (a log truncated by logrotate's copytruncate,
a file still being written; real rsync), in a standard or an archive directory: rsync ends well
(exit 0), and the medium holds the file as rsync read it, of another size than the one it listed.
The catalog recorded the listed size, so `restore` then refused the file as one the medium had
lost, and the backup said nothing. Now the catalog records the size the medium holds, and the
backup says which files changed while they were read (warnings)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from rabtui.restore import run as R
from tests.trees import Lab, write_files


def _while_read(lab: Lab, cfg, change) -> object:
    """A backup during which `change(path of z)` runs once rsync has begun to write `a` (listed
    before z, slowed down by bwlimit): z was listed, not read yet."""
    data = lab.src / "data"
    done = threading.Event()

    def watch():
        while not done.is_set():
            for _root, _dirs, names in os.walk(lab.media[0][1]):
                if any(n.startswith(".a.") for n in names):
                    change(data / "z")
                    return
            time.sleep(0.002)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        return lab.backup(cfg, medium_id="m1")
    finally:
        done.set()
        watcher.join()


def _grow(path):
    with open(path, "ab") as f:
        f.write(b"G" * 5000)


@pytest.mark.parametrize("kind, change, size", [("archive", lambda p: os.truncate(p, 10), 10),
                                                ("standard", _grow, 25_000)], ids=["shrinks", "grows"])
def test_the_catalog_holds_the_size_read_and_the_file_is_restored(tmp_path, kind, change, size):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", kind)], extra='bwlimit = "150"')   # a takes 2 s: the watcher's window
    data = lab.src / "data"
    write_files(data, {"a": 300_000, "z": b"z" * 20_000})
    result = _while_read(lab, cfg, change)
    assert os.path.getsize(data / "z") == size         # the change came while the backup ran
    assert result.status == "warnings", result.reason
    assert f"{data}: 1 file changed size while rsync read them, saved as read: z;" in result.reason
    assert result.total_bytes == 300_000 + size
    sizes = {bytes(r["path"]).rsplit(b"/", 1)[-1]: r["size"] for r in lab.store().all(
        "SELECT p.path, v.size FROM versions v JOIN paths p ON p.id=v.path_id")}
    assert sizes == {b"a": 300_000, b"z": size}
    R.restore(cfg, lab.store(), "loc", str(data / "z"), to=tmp_path / "out")
    assert (tmp_path / "out" / str(data).lstrip("/") / "z").read_bytes() == (data / "z").read_bytes()
