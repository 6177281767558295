"""Scheduling: cron due-ness (pure), run-due with a frozen clock (real backups, cleanup, check,
due checkpoints), and the systemd/cron units."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from rabtui import config as configmod
from rabtui.ops import schedule
from rabtui.cli import main
from tests.trees import Lab, write_files


def test_last_slot_and_due():
    expr = "0 2 * * *"
    assert schedule.last_slot(expr, datetime(2026, 11, 22, 2, 0)) == datetime(2026, 11, 22, 2, 0)
    assert schedule.last_slot(expr, datetime(2026, 11, 22, 1, 59)) == datetime(2026, 11, 21, 2, 0)
    assert schedule.is_due(expr, datetime(2026, 11, 22, 3, 0), None) == datetime(2026, 11, 22, 2, 0)
    assert schedule.is_due(expr, datetime(2026, 11, 22, 3, 0), datetime(2026, 11, 22, 2, 0)) is None
    # down for three days: one catch-up run for the newest slot, not three
    assert schedule.is_due(expr, datetime(2026, 11, 25, 9, 0), datetime(2026, 11, 22, 2, 0)) == \
        datetime(2026, 11, 25, 2, 0)
    assert schedule.last_slot("*/15 * * * *", datetime(2026, 1, 1, 10, 7)) == datetime(2026, 1, 1, 10, 0)


def test_a_schedule_of_years_to_come_or_gone_is_not_due_and_never_a_traceback():
    now = datetime(2026, 11, 22, 3, 0)
    for to_come in ("0 0 1 1 * 0 2099", "0 0 29 2 1 0 2027"):    # croniter finds no time before now
        assert schedule.last_slot(to_come, now) is None
        assert schedule.is_due(to_come, now, None) is None
    assert schedule.last_slot("0 0 1 1 * 0 2020", now) == datetime(2020, 1, 1)   # none to come
    assert schedule.is_due("0 0 1 1 * 0 2020", now, datetime(2020, 1, 1)) is None


def test_run_due_with_a_schedule_of_years_to_come_backs_up_nothing(tmp_path, capsys):
    lab = Lab(tmp_path)
    lab.local(extra='schedule = "0 0 1 1 * 0 2099"')
    assert main(["--config", str(lab.config_path), "run-due"]) == 0
    assert "loc" not in capsys.readouterr().out


def test_units_and_install(tmp_path, capsys):
    units = schedule.units(tmp_path / "rabtui.toml")
    assert "ExecStart=" in units["rabtui-run-due.service"] and "run-due" in units["rabtui-run-due.service"]
    assert "--config" in units["rabtui-run-due.service"] and "Persistent=true" in units["rabtui-run-due.timer"]
    assert units["crontab"].startswith("*/15 * * * * ") and "run-due" in units["crontab"]
    lab = Lab(tmp_path)
    lab.local()
    assert main(["--config", str(lab.config_path), "schedule", "install"]) == 0
    out = capsys.readouterr().out
    assert "[Timer]" in out and "OnCalendar=" in out and "run-due" in out
    unit_dir = tmp_path / "units"
    assert main(["--config", str(lab.config_path), "schedule", "install", "--write", "--unit-dir", str(unit_dir)]) == 0
    assert sorted(p.name for p in unit_dir.iterdir()) == ["rabtui-run-due.service", "rabtui-run-due.timer"]


@pytest.mark.parametrize("euid, user", [(0, ""), (1000, " --user")])
def test_the_systemctl_line_is_the_one_for_where_the_units_go(tmp_path, capsys, monkeypatch, euid, user):
    """Another user than root gets the units in ~/.config/systemd/user: printed or written, the line
    to enable them says `systemctl --user` (root's, in /etc/systemd/system, says none)."""
    lab = Lab(tmp_path)
    lab.local()
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    enable = f"systemctl{user} daemon-reload && systemctl{user} enable --now rabtui-run-due.timer"
    assert main(["--config", str(lab.config_path), "schedule", "install"]) == 0
    assert f"(then: {enable})" in capsys.readouterr().out
    units = tmp_path / "units"
    assert main(["--config", str(lab.config_path), "schedule", "install", "--write", "--unit-dir", str(units)]) == 0
    assert f"now: {enable}\n" in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_units_name_their_paths_as_systemd_and_cron_read_them(tmp_path, monkeypatch):
    """`%` is a specifier to systemd (`%b` the boot id, `%z` none: the unit does not load) and a line
    end to cron; `$` a variable, backslashes and quotes escapes: the program and the config named in
    the units are those given, or run-due would run nothing, every time, in silence."""
    program = tmp_path / "bin %b $HOME;x" / "rabtui"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    config = tmp_path / "conf %z $HOME 'q\" \\t" / "rabtui.toml"
    monkeypatch.setattr(sys, "argv", [str(program)])
    units = schedule.units(config)
    argv = [str(program), "--config", str(config), "run-due"]
    (tmp_path / "rabtui-run-due.service").write_text(units["rabtui-run-due.service"])
    # systemd loads it, and finds the program where it is (it says when it finds none there)
    verified = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / "rabtui-run-due.service")],
                              capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0, verified.stderr
    exec_start = re.search(r"^ExecStart=(.*)$", units["rabtui-run-due.service"], re.M).group(1)
    assert "%%z" in exec_start and "$$HOME 'q" in exec_start and "%%b $HOME;x" in exec_start
    # cron cuts its command at a bare %, and hands it to sh with each \% made a %
    command = units["crontab"].split(" ", 5)[5].removesuffix(" >/dev/null 2>&1\n")
    command = command.split(" && ", 1)[1].split(" ", 1)[1]    # after `cd / && PATH=...`
    assert re.search(r"(?<!\\)%", command) is None, command
    words = subprocess.run(["sh", "-c", "printf '%s\\0' " + command.replace("\\%", "%")],
                           capture_output=True, timeout=60).stdout.split(b"\0")[:-1]
    assert [w.decode() for w in words] == argv


def test_units_name_a_symlinked_config_by_its_link(tmp_path, monkeypatch):
    """rabtui.toml -> repo/rabtui.toml, with `state_dir = "state"`: every command reads it as the
    link's folder's state; the units named the file the link points to, so run-due read
    repo/state, another state database, and its backups were not the ones the operator sees."""
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "rabtui.toml").write_text('[rabtui]\nstate_dir = "state"\n')
    (tmp_path / "rabtui.toml").symlink_to("repo/rabtui.toml")
    monkeypatch.chdir(tmp_path)
    argv = schedule.rabtui_argv(Path("rabtui.toml"))
    named = Path(argv[argv.index("--config") + 1])
    assert named == tmp_path / "rabtui.toml"
    assert configmod.load(named).state_dir == configmod.load(tmp_path / "rabtui.toml").state_dir == tmp_path / "state"


@pytest.mark.parametrize("name", ["a\nExecStartPre=touch x\n", "a\udcff"], ids=["line break", "not UTF-8"])
def test_a_config_path_no_unit_can_name_is_refused_and_nothing_written(tmp_path, capsys, name):
    lab = Lab(tmp_path)
    lab.local()
    config = tmp_path / name / "rabtui.toml"
    config.parent.mkdir()
    shutil.copy(lab.config_path, config)
    unit_dir = tmp_path / "units"
    assert main(["--config", str(config), "schedule", "install", "--write", "--unit-dir", str(unit_dir)]) == 2
    err = capsys.readouterr().err
    assert "holds a control character or bytes that are no UTF-8: a systemd unit or a crontab line cannot" in err
    assert not unit_dir.exists()


def test_run_due_with_frozen_clock(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    events = tmp_path / "events.jsonl"
    script = tmp_path / "alert.py"
    script.write_text(f"import sys\nopen({str(events)!r}, 'a').write(sys.stdin.read())\n")
    lab.local([("data", "standard")], extra='schedule = "0 2 * * *"')
    text = lab.config_path.read_text().replace(
        "[[media]]", f'[notify]\ncommand = "{sys.executable} {script}"\n[retention]\nkeep_all_days = 1\n'
        'keep_daily_days = 0\nkeep_weekly_weeks = 0\nkeep_monthly_months = 0\nkeep_yearly_years = 0\n\n[[media]]', 1)
    lab.config_path.write_text(text)
    write_files(lab.src / "data", {"a": b"a"})
    run = lambda now: main(["--config", str(lab.config_path), "run-due", "--now", now])

    assert run("2026-10-01T01:00") == 0          # first slot not reached? it is: yesterday 02:00
    out = capsys.readouterr().out
    assert "loc: due (schedule time 2026-09-30 02:00)" in out and "loc: completed" in out
    assert run("2026-10-01T01:30") == 0          # already run for that slot
    assert "due" not in capsys.readouterr().out.split("checkpoint due")[0]
    assert run("2026-10-01T02:05") == 0
    assert "loc: completed" in capsys.readouterr().out
    store = lab.store()
    names = [r["name"] for r in store.all("SELECT name FROM backups ORDER BY id")]
    assert names == ["backup-20261001010000", "backup-20261001020500"]
    jobs = store.all("SELECT kind, status FROM jobs ORDER BY id")
    assert [(j["kind"], j["status"]) for j in jobs] == [("backup", "completed")] * 2
    # three days later: one catch-up backup, then cleanup removes the old ones, check records health
    assert run("2026-10-04T09:00") == 0
    out = capsys.readouterr().out
    assert "deleting loc backup-20261001010000" in out and "checkpoint due: loc:" in out
    statuses = [r["status"] for r in store.all("SELECT status FROM backups ORDER BY id")]
    assert statuses == ["deleted", "deleted", "completed"]
    assert store.one("SELECT level FROM health WHERE check_id LIKE 'checkpoint:%'")["level"] == "warning"
    sent = [json.loads(line) for line in events.read_text().splitlines()]
    assert any(e["data"].get("check", "").startswith("checkpoint:") for e in sent)


def test_a_schedules_time_edited_after_its_backup_gives_no_second_backup_that_day(tmp_path, capsys):
    """The backup made for a time of the schedule as it was counts for the edited schedule's time
    nearest to it: a daily time moved later that day was due again at once. A schedule made more
    frequent is due at its next time still."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")], extra='schedule = "0 2 * * *"')
    write_files(lab.src / "data", {"a": b"a"})

    def run(now: str, schedule_expr: str | None = None) -> str:
        if schedule_expr:
            text = re.sub(r'schedule = "[^"]*"', f'schedule = "{schedule_expr}"', lab.config_path.read_text())
            lab.config_path.write_text(text)
        assert main(["--config", str(lab.config_path), "run-due", "--now", now]) == 0
        return capsys.readouterr().out.split("checkpoint due")[0]

    assert "loc: due (schedule time 2026-10-01 02:00)" in run("2026-10-01T02:05")
    assert "loc: due" not in run("2026-10-01T02:35", "30 2 * * *")
    assert "loc: due" not in run("2026-10-01T13:05", "0 13 * * *")
    assert "loc: due (schedule time 2026-10-02 13:00)" in run("2026-10-02T13:05")
    assert "loc: due (schedule time 2026-10-02 18:00)" in run("2026-10-02T18:05", "0 */6 * * *")
    assert len(lab.store().all("SELECT id FROM backups")) == 3
    # the pure rule: a mark the schedule does not name counts for its nearest time
    expr, mark = "0 20 * * *", datetime(2026, 10, 1, 2, 0)
    assert schedule.is_due(expr, datetime(2026, 10, 1, 20, 5), mark) == datetime(2026, 10, 1, 20, 0)
    assert schedule.is_due("0 3 * * *", datetime(2026, 10, 1, 3, 5), mark) is None


def test_a_backup_as_near_the_edited_schedules_time_before_as_the_one_after_counts_for_the_one_before(tmp_path, capsys):
    """Backed up at 02:00, the schedule made 14:00: the 02:00 backup is as near yesterday's 14:00 as
    today's. It counts for yesterday's, and today's is due (it counted for today's: no backup that
    day, 36 hours between two)."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")], extra='schedule = "0 2 * * *"')
    write_files(lab.src / "data", {"a": b"a"})
    assert main(["--config", str(lab.config_path), "run-due", "--now", "2026-10-01T02:05"]) == 0
    lab.write(lab._local_source([("data", "standard")], 'schedule = "0 14 * * *"', "loc"))
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "run-due", "--now", "2026-10-01T14:05"]) == 0
    assert "loc: due (schedule time 2026-10-01 14:00)" in capsys.readouterr().out
    assert schedule.counted_for("0 14 * * *", datetime(2026, 10, 1, 14, 0), datetime(2026, 10, 1, 2, 0)) is False
    assert len(lab.store().all("SELECT id FROM backups WHERE status='completed'")) == 2


def test_a_schedule_made_weekly_after_a_backup_is_not_stale_while_that_backup_counts_for_its_sunday(tmp_path, capsys):
    """Daily at 02:00, backed up on a Friday, then made weekly on Sundays (run-due reads the edit
    that day): that backup counts for the Sunday nearest it, and the health check does not call the
    source stale for missing it."""
    from rabtui.ops import health

    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")], extra='schedule = "0 2 * * *"')
    write_files(lab.src / "data", {"a": b"a"})
    assert main(["--config", str(lab.config_path), "run-due", "--now", "2026-10-02T02:05"]) == 0
    capsys.readouterr()
    cfg = lab.write(lab._local_source([("data", "standard")], 'schedule = "0 2 * * 0"', "loc"))
    for at in ("2026-10-02T12:00", "2026-10-05T03:00"):
        assert main(["--config", str(lab.config_path), "run-due", "--now", at]) == 0
    assert "loc: due" not in capsys.readouterr().out
    assert "stale:loc" not in {p.check_id for p in health.run_checks(cfg, lab.store(), datetime(2026, 10, 5, 3, 0))}
    # a Sunday missed is said as before
    assert "stale:loc" in {p.check_id for p in health.run_checks(cfg, lab.store(), datetime(2026, 10, 12, 3, 0))}


def test_a_backup_by_hand_nearer_the_next_scheduled_time_does_not_hide_that_time_missed(tmp_path):
    """Only the time a run-due made a backup for counts for the schedule's nearest time: a backup
    by hand on a Thursday noon is no Sunday's, and a weekly source whose Sunday went by with no
    backup (the machine off) is stale as it was before."""
    from datetime import timedelta

    from rabtui.ops import health

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")], extra='schedule = "0 2 * * 0"')
    write_files(lab.src / "data", {"a": b"a"})
    assert lab.backup(cfg, now=datetime(2026, 10, 8, 12, 0)).status == "completed"
    checks = lambda at: {p.check_id for p in health.run_checks(cfg, lab.store(), at)}   # noqa: E731
    assert "stale:loc" not in checks(datetime(2026, 10, 11, 3, 0))
    assert "stale:loc" in checks(datetime(2026, 10, 12, 3, 0) + timedelta(days=1))


def test_a_time_in_the_hour_a_dst_change_skips_does_not_count_for_the_next(tmp_path, monkeypatch):
    """Every two hours, in a zone whose clocks go forward at 02:00: the time 02:00 that day is
    marked as the instant it stands for (03:00), which the schedule does not name; it is the 02:00
    time's own mark, not one nearer to 04:00 (where it had 04:00 pass with no backup)."""
    import time

    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        store = Lab(tmp_path, media_count=1).store()
        expr = "0 */2 * * *"
        slot = schedule.is_due(expr, datetime(2026, 3, 29, 3, 5), datetime(2026, 3, 29, 0, 0))
        assert slot == datetime(2026, 3, 29, 2, 0)
        schedule.mark_run(store, "loc", slot, datetime(2026, 3, 29, 3, 5))
        mark = schedule._last_due(store, "loc", datetime(2026, 3, 29, 4, 5))
        assert schedule.is_due(expr, datetime(2026, 3, 29, 4, 5), mark) == datetime(2026, 3, 29, 4, 0)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_run_due_failure_is_notified(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    events = tmp_path / "events.jsonl"
    script = tmp_path / "alert.py"
    script.write_text(f"import sys\nopen({str(events)!r}, 'a').write(sys.stdin.read())\n")
    lab.local([("data", "standard")], extra='schedule = "*/5 * * * *"\npre_backup_commands = ["exit 7"]')
    text = lab.config_path.read_text().replace(
        "[[media]]", f'[notify]\ncommand = "{sys.executable} {script}"\n\n[[media]]', 1)
    lab.config_path.write_text(text)
    assert main(["--config", str(lab.config_path), "run-due", "--now", "2026-10-01T10:07"]) == 1
    assert "loc: failed" in capsys.readouterr().out
    sent = [json.loads(line) for line in events.read_text().splitlines()]
    assert sent[0]["kind"] == "backup_failed" and sent[0]["source"] == "loc" and "exit 7" in sent[0]["message"]
    assert lab.store().one("SELECT status FROM jobs")["status"] == "failed"


def test_help_says_what_run_due_and_schedule_install_do():
    """As README's table says them: run-due names the due checkpoints and burns none; --write
    writes the units where systemd reads them."""
    from rabtui.cli import build_parser

    words = build_parser()._subparsers._group_actions[0]
    commands = words.choices
    run_due = next(a.help for a in words._choices_actions if a.dest == "run-due")
    assert "names the checkpoints due" in run_due and "checkpoint burn" in run_due, run_due
    install = commands["schedule"]._subparsers._group_actions[0].choices["install"].format_help()
    assert re.search(r"--write\s+write the service and timer into", install), install


def test_a_frequent_schedule_runs_in_both_passes_of_the_autumn_repeated_hour(tmp_path, monkeypatch):
    """run-due each 15 minutes through the night Berlin's clocks go from 03:00 back to 02:00: every
    15 minutes and hourly run their times of 02:xx in both passes, as cron does for jobs whose hour
    is a wildcard (once, a gap of 1 h 15); a time of a fixed hour (02:30) runs once."""
    import time

    from rabtui.state.store import Store

    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        store = Store(tmp_path / "state")
        start = datetime(2026, 10, 25, 1, 0).timestamp()
        exprs = {"q": "*/15 * * * *", "h": "0 * * * *", "n": "30 2 * * *"}
        ran: dict[str, list] = {sid: [] for sid in exprs}
        for sid, e in exprs.items():     # each run for its time before
            schedule.mark_run(store, sid, schedule.last_slot(e, datetime.fromtimestamp(start - 60)))
        for step in range(13):      # 01:00 CEST to 03:00 CET: four real hours
            now = datetime.fromtimestamp(start + step * 900)
            cfg = SimpleNamespace(sources=[SimpleNamespace(id=sid, schedule=e) for sid, e in exprs.items()])
            for due in schedule.due_sources(cfg, store, now):
                ran[due.source].append(f"{due.slot:%H:%M}" + ("'" if due.slot.fold else ""))
                schedule.mark_run(store, due.source, due.slot, now)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert ran["q"] == ["01:00", "01:15", "01:30", "01:45", "02:00", "02:15", "02:30", "02:45",
                        "02:00'", "02:15'", "02:30'", "02:45'", "03:00"]
    assert ran["h"] == ["01:00", "02:00", "02:00'", "03:00"]
    assert ran["n"] == ["02:30"]
