"""An archive directory's file changed on the source and then unreadable to the source's rsync: the
backup (warnings) could not read it, the union keeps the version an earlier backup saved. The
checkpoint plan is not refused for it, before and after rebuild-state, nor once it is readable
again and backed up. Real rsync over the test sshd (without root's right to read everything)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from rabtui.cli import main
from tests import test_unreadable_on_source
from tests.test_unreadable_on_source import BLIND
from tests.trees import Lab, next_second, ssh_source_lines, write_files
from tests.union_plans import plan_not_refused

pytestmark = test_unreadable_on_source.pytestmark     # root and setpriv
T0 = datetime(2026, 7, 1, 3, 0)


def test_a_changed_file_the_backup_could_not_read_is_not_refused(tmp_path, sshd):
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    data = lab.src / "data"
    write_files(data, {"x": b"x1", "keep": b"k", "sub/y": b"y1"})
    cfg = lab.write(ssh_source_lines(sshd) + f'rsync_path = "{BLIND}"\n[[sources.directories]]\npath = "{data}"\n'
                    f'kind = "archive"\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\n')
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    next_second()
    (data / "x").write_bytes(b"x2-longer")
    (data / "sub" / "y").write_bytes(b"y2-longer")
    os.chmod(data / "x", 0)
    os.chmod(data / "sub", 0o311)           # its files open, itself not listed
    done = lab.backup(cfg, "web", now=T0 + timedelta(days=1))
    assert done.status == "warnings", done.reason
    plan_not_refused(lab, cfg)
    lab.lose_database()
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 0
    plan_not_refused(lab, cfg)
    os.chmod(data / "x", 0o644)
    os.chmod(data / "sub", 0o755)
    next_second()
    assert lab.backup(cfg, "web", now=T0 + timedelta(days=2)).status == "completed"
    plan_not_refused(lab, cfg)
