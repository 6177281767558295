"""run-due through the nights Berlin's clocks change, each 15 minutes or at the times named (real
rsync of a local source, `run-due --now` with the UTC offset that names the pass of a repeated
hour): each scheduled time backed up once, none lost to the change."""

from __future__ import annotations

import time

import pytest

from rabtui.cli import main
from tests.trees import Lab, write_files


@pytest.fixture
def berlin(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _nights(tmp_path, capsys, expr: str, nows: list[str]) -> list[str]:
    """run-due at each of `nows`; the schedule times each backed up for, as run-due says them."""
    tmp_path.mkdir(exist_ok=True)
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")], extra=f'schedule = "{expr}"')
    write_files(lab.src / "data", {"a": b"a"})
    said = []
    for now in nows:
        assert main(["--config", str(lab.config_path), "run-due", "--now", now]) == 0
        out = capsys.readouterr().out
        assert out.count("loc: completed") == out.count("loc: due (schedule time"), out
        said += [line.split("schedule time ")[1].rstrip(")") for line in out.splitlines()
                 if line.startswith("loc: due (schedule time")]
    return said


def test_a_time_after_the_skipped_hour_is_not_taken_for_done_by_the_skipped_one(tmp_path, capsys, berlin):
    """`30 2,3 * * *` on 29 March (02:00 becomes 03:00): 02:30 is backed up at 03:00, and 03:30 at
    03:30. The 02:30 was marked as the instant 02:30 reads an hour on, 03:30 CEST: 03:30 went without
    its backup."""
    said = _nights(tmp_path, capsys, "30 2,3 * * *",
                   ["2026-03-28T04:00", "2026-03-29T03:00", "2026-03-29T03:15", "2026-03-29T03:30", "2026-03-29T03:45"])
    assert said == ["2026-03-28 03:30", "2026-03-29 02:30", "2026-03-29 03:30"]


def test_a_schedule_whose_minute_is_a_wildcard_runs_in_both_passes_of_the_repeated_hour(tmp_path, capsys, berlin):
    """`*/30 2 * * *` on 25 October (03:00 CEST becomes 02:00 CET): cron runs a job whose minute or
    hour begins with `*` in both passes, so run-due backs up 02:00 and 02:30 twice; `0,30 2` (a
    fixed minute and hour) once. The second pass went without backups (only the hour was looked at)."""
    nows = ["2026-10-24T04:00", "2026-10-25T02:05+02:00", "2026-10-25T02:35+02:00", "2026-10-25T02:05+01:00",
            "2026-10-25T02:35+01:00", "2026-10-25T03:05+01:00"]
    assert _nights(tmp_path / "w", capsys, "*/30 2 * * *", nows) == [
        "2026-10-24 02:30", "2026-10-25 02:00", "2026-10-25 02:30", "2026-10-25 02:00", "2026-10-25 02:30"]
    assert _nights(tmp_path / "f", capsys, "0,30 2 * * *", nows) == [
        "2026-10-24 02:30", "2026-10-25 02:00", "2026-10-25 02:30"]


def test_a_time_of_the_first_pass_is_past_in_the_second(tmp_path, capsys, berlin):
    """`30 2 * * *` on 25 October, the machine off from 02:00 CEST: at 02:10 CET (second pass) that
    day's 02:30, an hour before, is the last time, not the day before's. run-due left it until 02:30
    CET; and the check 24 hours on, looking back to 02:20 CET, judged the night before (backed up):
    a missed 25 October said at 01:35, not at 02:20, said again at 02:35."""
    assert _nights(tmp_path / "run", capsys, "30 2 * * *", ["2026-10-24T03:00", "2026-10-25T02:10+01:00",
                                                            "2026-10-25T02:25+01:00"]) == [
        "2026-10-24 02:30", "2026-10-25 02:30"]
    _nights(tmp_path / "off", capsys, "30 2 * * *", ["2026-10-24T03:00"])
    config = tmp_path / "off" / "rabtui.toml"
    for now in ["2026-10-26T01:35", "2026-10-26T02:20+01:00", "2026-10-26T02:35"]:
        assert main(["--config", str(config), "check", "--now", now]) == 2, now
        assert "none made for its scheduled time 2026-10-25 02:30" in capsys.readouterr().out, now


def test_a_second_pass_missed_is_due_after_the_repeated_hour(tmp_path, capsys, berlin):
    """`*/30 2 * * *` on 25 October, no run-due in the second pass (the machine off): at 03:05 CET
    the last time is 02:30 of the second pass, backed up then. It was taken for 02:30 of the first
    (backed up): nothing was due, while the check 24 hours on said that 02:30 missed."""
    assert _nights(tmp_path, capsys, "*/30 2 * * *", ["2026-10-24T03:00", "2026-10-25T02:05+02:00",
                                                       "2026-10-25T02:35+02:00", "2026-10-25T03:05+01:00"]) == [
        "2026-10-24 02:30", "2026-10-25 02:00", "2026-10-25 02:30", "2026-10-25 02:30"]
    assert main(["--config", str(tmp_path / "rabtui.toml"), "check", "--now", "2026-10-26T02:35+01:00"]) != 2
    assert "none made for" not in capsys.readouterr().out
