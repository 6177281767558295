"""An archive directory of a source over SSH (the tests' sshd): sparse files, a hard-link group
joined, split and joined again, a mode alone changed, a file changed at its size in the same
second; the checkpoint plan after each backup is not refused. Real rsync over ssh, xorriso."""

from __future__ import annotations

import os

from tests.trees import Lab, next_second, ssh_source_lines, write_files
from tests.union_plans import plan_not_refused


def _sparse(path, size):
    with open(path, "wb") as f:
        f.write(b"head")
        f.seek(size)
        f.write(b"tail")


def test_an_ssh_archive_union_is_not_refused(tmp_path, sshd):
    lab = Lab(tmp_path, media_count=1)
    data = lab.src / "data"
    data.mkdir()
    cfg = lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{data}"\nkind = "archive"\n'
                    f'[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\n')
    lab.trust(sshd)
    _sparse(data / "s", 1 << 20)
    write_files(data, {"l1": b"linked", "m": b"mode", "same": b"aaaa"})
    os.link(data / "l1", data / "l2")
    steps = [
        lambda: (os.unlink(data / "l2"), write_files(data, {"l2": b"linked"})),       # split
        lambda: (os.chmod(data / "m", 0o600), _sparse(data / "s2", 2 << 20)),
        lambda: (os.unlink(data / "l2"), os.link(data / "l1", data / "l2"),          # joined again
                 os.link(data / "s", data / "s_link")),
        lambda: (os.unlink(data / "s"), _sparse(data / "s", 1 << 20)),                # its old size, now
    ]
    done = lab.backup(cfg, "web")
    assert done.status == "completed", done.reason
    plan_not_refused(lab, cfg)
    for step in steps:
        next_second()
        step()
        done = lab.backup(cfg, "web")
        assert done.status in ("completed", "warnings"), done.reason
        plan_not_refused(lab, cfg)
    st = os.stat(data / "same")
    (data / "same").write_bytes(b"bbbb")          # its size and second kept: rsync sees no change
    os.utime(data / "same", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert lab.backup(cfg, "web").status == "completed"
    plan_not_refused(lab, cfg)
