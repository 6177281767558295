"""The attributes tree (tests/fidelity_attrs.py) comes back from a medium copied onto another disk
(`rsync -aHAXS --numeric-ids`, its path changed in the config, `rebuild-state`) and from the discs,
compared entry by entry (lstat, xattrs with ACLs, content, hard-link groups, to the nanosecond from
the medium, to the second from the discs). Real rsync, real xorriso onto an `images:` drive."""

from __future__ import annotations

import subprocess
from datetime import datetime

from rabtui.cli import main
from rabtui.restore import run as R
from tests import fidelity_attrs, fidelity_more
from tests.trees import Lab, burn_due


def test_the_attributes_tree_back_from_a_copied_medium_and_from_the_discs(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    lab.with_discs("dvd+r")
    data = lab.src / "data"
    fidelity_attrs.build(data)
    cfg = lab.load()
    assert lab.backup(cfg, now=datetime(2026, 6, 1, 3)).status == "completed"
    number = burn_due(cfg, lab.store(), asked={"*"})

    old, new = lab.media[0][1], tmp_path / "other-disk"
    subprocess.run(["rsync", "-aHAXS", "--numeric-ids", f"{old}/", f"{new}/"], check=True)
    subprocess.run(["rm", "-rf", "--", str(old)], check=True)
    lab.config_path.write_text(lab.config_path.read_text().replace(f'path = "{old}"', f'path = "{new}"'))
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 0, capsys.readouterr().out
    cfg = lab.load()
    got = R.restore(cfg, lab.store(), "loc", str(data), to=tmp_path / "out")
    assert not got.written.problems(), got.summary
    assert fidelity_more.differences(data, tmp_path / "out" / str(data).lstrip("/")) == []

    got = R.restore(cfg, lab.store(), "loc", str(data), checkpoint=number, to=tmp_path / "disc")
    assert not got.written.problems(), got.summary
    assert fidelity_more.differences(data, tmp_path / "disc" / str(data).lstrip("/"), seconds=True) == []
