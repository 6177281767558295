"""A restore whose tree would hold a medium or the state directory (a directory restored into a
target where the path of a medium, or of the state, lies below it: another host's /srv restored
to /, say) is refused before anything is written, as one into a medium is: with --overwrite it
would replace the medium's label and backups, or the state database, with the source's files."""

from __future__ import annotations

from datetime import datetime

import pytest

from rabtui.cli import main
from tests.trees import Lab, snapshot, write_files

T0 = datetime(2026, 6, 1, 3, 0)


@pytest.mark.parametrize("what", ["medium", "state"])
def test_a_restore_over_a_medium_or_the_state_directory_is_refused(tmp_path, capsys, what):
    lab = Lab(tmp_path, media_count=1)
    alt = tmp_path / "alt"
    under = alt / str(lab.src / "data").lstrip("/")     # where the source's directory lands below --to alt
    if what == "medium":
        lab.media.append(("m2", under / "sub"))
    else:
        lab.state = under / "sub"
    (under / "sub").mkdir(parents=True)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", {"sub/.rabtui-medium": b"not the label", "sub/state.db": b"not the state",
                                   "sub/new": b"n", "other": b"o"})
    assert lab.backup(cfg, medium_id="m1", now=T0).status == "completed"
    if what == "medium":
        assert main(["--config", str(lab.config_path), "media", "label", "m2"]) == 0
    before = snapshot(under / "sub") if what == "medium" else None     # the state's database changes
    for more in ([], ["--overwrite"]):
        code = main(["--config", str(lab.config_path), "restore", "loc", str(lab.src / "data"), "--to", str(alt),
                     *more])
        err = capsys.readouterr().err
        assert code == 2, err
        assert ("medium 'm2'" if what == "medium" else "the state directory") in err
        assert not (under / "sub/new").exists() and not (under / "sub/state.db").exists()
        assert what == "state" or snapshot(under / "sub") == before
        assert not (under / "other").exists()
    # a path beside it is restored
    assert main(["--config", str(lab.config_path), "restore", "loc", str(lab.src / "data/other"), "--to", str(alt)]) == 0
    assert (under / "other").read_bytes() == b"o"
