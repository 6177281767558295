"""`--now` (run-due, cleanup, check: pretend it is this time) at the ends of the calendar: a time the
retention rules, the schedules or the health check cannot count back or on from is bad usage in one
`rabtui:` line (exit 2), said before anything is read or written; a time within the years given
works as before."""

from __future__ import annotations

import pytest

from rabtui.cli import main
from tests.trees import Lab, write_files


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("now"), media_count=1)
    write_files(lab.src / "data", {"a": b"one"})
    cfg = lab.local()
    assert lab.backup(cfg).status == "completed"
    return lab


@pytest.mark.parametrize("command", ["run-due", "cleanup", "check"])
@pytest.mark.parametrize("when", ["0001-01-01T00:00", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00+14:00"])
def test_a_time_rabtui_cannot_count_from_is_bad_usage(lab, capsys, command, when):
    with pytest.raises(SystemExit) as stop:
        main(["--config", str(lab.config_path), command, "--now", when])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert f"rabtui: argument --now: {when!r}: out of range: give a time from 1000-01-01 to 9998-12-31" in err, err


@pytest.mark.parametrize("command", ["run-due", "cleanup", "check"])
def test_a_time_within_the_years_is_taken(lab, capsys, command):
    assert main(["--config", str(lab.config_path), command, "--now", "1000-01-01T00:00"]) in (0, 1, 2)
    assert main(["--config", str(lab.config_path), command, "--now", "9998-12-31T23:59"]) in (0, 1, 2)
    err = capsys.readouterr().err
    assert "argument --now" not in err and "Traceback" not in err, err
