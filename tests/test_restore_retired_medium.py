"""A medium taken out of the configuration (retired from the rotation, lost) whose backups the
state still knows: a restore that names no copy reads the newest copy at hand, saying that the
newest is on a medium no longer configured (exit 3), instead of failing on that medium; asked for
copies in turn, it is not among them. Real backups (rsync) on two media."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from rabtui.cli import main
from rabtui.errors import WorkFailed
from rabtui.events import ScriptedPrompter
from rabtui.restore import copies
from rabtui.restore import run as R
from tests.trees import Lab, closed, made_once, write_files

T0 = datetime(2026, 7, 1, 3, 0)


def _retired(tmp_path):
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", {"f": b"1"})
    assert lab.backup(cfg, medium_id="m1", now=T0).status == "completed"
    (lab.src / "data/f").write_bytes(b"22")
    assert lab.backup(cfg, medium_id="m2", now=T0 + timedelta(days=1)).status == "completed"
    text = lab.config_path.read_text()
    lab.config_path.write_text(text[:text.index('[[media]]\nid = "m2"')] + text[text.index("[[sources]]"):])
    return lab, lab.load()


@pytest.fixture(scope="module")
def _retired_made(tmp_path_factory):
    def make(live):
        closed(_retired(live)[0])

    yield from made_once(tmp_path_factory, make)


@pytest.fixture
def retired(_retired_made):
    """What _retired makes (lab, cfg), anew for each test (made once for the module), in lab.tmp."""
    lab = Lab(_retired_made[1].anew(), media_count=2)
    return lab, lab.load()


def test_the_newest_copy_on_a_medium_no_longer_configured_leaves_the_one_at_hand(retired, tmp_path, capsys):
    lab, cfg = retired
    f = lab.src / "data/f"
    code = main(["--config", str(lab.config_path), "restore", "loc", str(f), "--to", str(tmp_path / "out"), "--json"])
    got = json.loads(capsys.readouterr().out)
    assert code == 3, got
    assert (tmp_path / "out" / str(f).lstrip("/")).read_bytes() == b"1"
    assert "m2" in got["warnings"][0] and "not at hand" in got["warnings"][0], got
    # Browse: the version only m2 holds has no copy to restore it from; the one m1 holds has
    rel = str(f).lstrip("/").encode()
    assert copies.copy_of_version(cfg, lab.store(), cfg.sources[0], rel, 2, int(f.stat().st_mtime)) is None
    old = int((tmp_path / "out" / str(f).lstrip("/")).stat().st_mtime)
    assert copies.copy_of_version(cfg, lab.store(), cfg.sources[0], rel, 1, old).medium == "m1"


def test_asked_in_turn_a_medium_no_longer_configured_is_not_asked_for(retired, tmp_path):
    lab, cfg = retired
    lab.media[0][1].joinpath(".rabtui-medium").rename(tmp_path / "label")   # m1 away too
    prompter = ScriptedPrompter(["skip"])
    with pytest.raises(WorkFailed, match="each of the 1 copies .* was skipped"):    # m1 skipped: no other
        R.restore(cfg, lab.store(), "loc", str(lab.src / "data/f"), to=tmp_path / "out", prompter=prompter)
    assert [q.data.get("medium") for q in prompter.asked] == ["m1"]


def test_find_says_a_copy_lies_on_a_medium_no_longer_configured(retired, capsys):
    """`rabtui find` marks the copy on a medium taken out of the configuration as such (no restore
    reads it), not as a medium not mounted; the one on a medium there is unmarked."""
    lab, cfg = retired
    args = ["--config", str(lab.config_path), "find", "data/f"]
    assert main(args) == 0
    out = capsys.readouterr().out
    on = {line.split(":")[0].strip(): line for line in out.splitlines() if line.startswith("    ")}
    assert on["m2"].endswith("(medium no longer configured)"), out
    assert "not mounted" not in out and "configured" not in on["m1"], out
    assert main(args + ["--json"]) == 0
    where = {loc["medium"]: loc for v in json.loads(capsys.readouterr().out) for loc in v["locations"]}
    assert (where["m2"]["configured"], where["m2"]["at_hand"]) == (False, False), where
    assert (where["m1"]["configured"], where["m1"]["at_hand"]) == (True, True), where


def test_browse_reads_a_backup_of_a_medium_no_longer_configured_only_on_that_medium(retired):
    """Browse lists a backup on a medium taken out of the configuration where the catalog has it,
    once the label at the medium root there says it is that medium; a decoy (another disk there,
    labelled otherwise) or nothing there: refused, said why, nothing listed."""
    from rabtui.state import queries
    from rabtui.tui.screens.browse_tree import TreeLevel

    lab, cfg = retired
    store = lab.store()
    backup = next(b for b in queries.source_backups(store, "loc") if b["medium"] == "m2")
    screen = SimpleNamespace(app=SimpleNamespace(cfg=cfg, store=store))
    assert TreeLevel._another_medium(screen, backup, "loc") is None     # m2's own disk: read there
    label = lab.media[1][1] / ".rabtui-medium"
    text = json.loads(label.read_text())
    label.unlink()
    label.write_text(json.dumps({**text, "id": "m9"}))
    said = TreeLevel._another_medium(screen, backup, "loc")
    assert said and "medium m2 is no longer in the config" in said and "labelled 'm9'" in said, said
    label.unlink()
    said = TreeLevel._another_medium(screen, backup, "loc")
    assert said and "no longer in the config" in said and "not there" in said, said
