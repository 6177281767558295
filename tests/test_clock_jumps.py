"""A night run under a clock that was years ahead (NTP, a dead RTC battery): no backup made before it
is deleted for the jump (retention judges a source as of its backup before the newest plus a week
when the clock is further ahead than that, and says so), the schedule goes on once the clock is
right again, and `check` says a backup is dated in the future; a cleanup with no run under that
clock judges at most a week after the newest backup. Real rsync, `run-due --now`."""
import os
from datetime import datetime

from rabtui.cli import main
from tests.test_kill_anywhere import rabtui
from tests.trees import Lab, write_files


def test_after_a_night_with_the_clock_ahead_the_schedule_goes_on_and_check_says_so(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")], extra='schedule = "0 2 * * *"')
    write_files(lab.src / "data", {"a": b"a"})
    cfg = ["--config", str(lab.config_path)]
    assert main([*cfg, "run-due", "--now", "2026-10-01T03:00"]) == 0
    assert main([*cfg, "run-due", "--now", "2030-01-01T03:00"]) == 0   # one night with the RTC/NTP years ahead
    capsys.readouterr()
    for day in range(2, 12):                                            # the clock is right again: ten nights
        assert main([*cfg, "run-due", "--now", f"2026-10-{day:02}T03:00"]) == 0
    out = capsys.readouterr().out
    nights = out.count("loc: completed")
    status = main([*cfg, "check", "--now", "2026-10-11T12:00"])
    said = capsys.readouterr().out
    assert nights == 10, out
    assert status == 2 and "dated" in said and "in the future" in said, said


def _five_nights(tmp_path) -> tuple[Lab, list[str]]:
    """A source backed up by run-due on five nights (2026-10-01 to 05), default retention; (the lab,
    the command line's --config)."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")], extra='schedule = "0 2 * * *"')
    cfg = ["--config", str(lab.config_path)]
    for day in range(1, 6):
        write_files(lab.src / "data", {f"v{day}": b"version %d" % day})
        assert main([*cfg, "run-due", "--now", f"2026-10-{day:02}T03:00"]) == 0
    return lab, cfg


def test_one_night_with_the_clock_years_ahead_deletes_no_older_backup(tmp_path, capsys):
    lab, cfg = _five_nights(tmp_path)
    assert main([*cfg, "run-due", "--now", "2030-01-01T03:00"]) == 0         # one night, RTC/NTP years ahead
    kept = [r["name"] for r in lab.store().all("SELECT name FROM backups WHERE status='completed' ORDER BY id")]
    # the five real nightly backups are days old in truth: a clock glitch must not wipe the history
    out = capsys.readouterr().out
    assert len(kept) == 6, (kept, out)
    assert "judged as of 2026-10-12" in out and "not 2030-01-01" in out and "came more than 7 days after" in out, out
    write_files(lab.src / "data", {"v6": b"version 6"})
    assert main([*cfg, "run-due", "--now", "2030-01-02T03:00"]) == 0         # and a second night so
    kept = lab.store().all("SELECT name FROM backups WHERE status='completed'")
    assert len(kept) == 7, capsys.readouterr().out


def test_a_night_with_the_clock_years_ahead_whose_backup_failed_deletes_no_older_backup(tmp_path, capsys):
    """The night's backup fails under the clock that jumped (the source's file system not mounted):
    the cleanup of that run-due runs under that clock all the same, and deletes nothing for it."""
    lab, cfg = _five_nights(tmp_path)
    (lab.src / "data").rename(lab.src / "unmounted")
    assert main([*cfg, "run-due", "--now", "2030-01-01T03:00"]) == 1         # the backup failed
    out = capsys.readouterr().out
    kept = lab.store().all("SELECT name FROM backups WHERE status='completed'")
    assert len(kept) == 5, out
    assert "judged as of 2026-10-12" in out and "not 2030-01-01" in out, out


def test_a_night_with_the_clock_years_ahead_deletes_nothing_of_a_source_not_backed_up_then(tmp_path, capsys):
    """`man` has no schedule (backed up by hand); `loc`'s night run under the clock years ahead dates
    its backup then, and the cleanup of that run-due judges `man` under that clock too."""
    lab = Lab(tmp_path, media_count=1)
    lab.write(lab._local_source([("data", "standard")], 'schedule = "0 2 * * *"', "loc")
              + lab._local_source([("hand", "standard")], "", "man"))
    cfg = ["--config", str(lab.config_path)]
    for day in range(1, 6):
        write_files(lab.src / "hand", {f"v{day}": b"version %d" % day})
        assert main([*cfg, "run-due", "--now", f"2026-10-{day:02}T03:00"]) == 0
        assert lab.backup(lab.load(), "man", now=datetime(2026, 10, day, 9)).status == "completed"
    assert main([*cfg, "run-due", "--now", "2030-01-01T03:00"]) == 0
    out = capsys.readouterr().out
    kept = lab.store().all("SELECT name FROM backups WHERE source='man' AND status='completed'")
    assert len(kept) == 5, out
    assert "man: judged as of" in out and "not 2030-01-01" in out, out


def test_a_run_that_failed_under_the_clock_years_ahead_goes_once_the_clock_is_right_again(tmp_path, capsys):
    """Its directory is a day old once a backup made after it is, not in 2030."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")], extra='schedule = "0 2 * * *"')
    cfg = ["--config", str(lab.config_path)]
    for day in range(1, 3):
        write_files(lab.src / "data", {f"v{day}": b"version %d" % day})
        assert main([*cfg, "run-due", "--now", f"2026-10-{day:02}T03:00"]) == 0
    (lab.src / "data").rename(lab.src / "unmounted")
    assert main([*cfg, "run-due", "--now", "2030-01-01T03:00"]) == 1         # failed, dated 2030
    (lab.src / "unmounted").rename(lab.src / "data")
    for day in range(3, 6):                                                   # the clock right again
        assert main([*cfg, "run-due", "--now", f"2026-10-{day:02}T03:00"]) == 0
    failed = lab.store().one("SELECT * FROM backups WHERE name LIKE 'backup-2030%'")
    out = capsys.readouterr().out
    assert failed["status"] == "deleted", out
    assert not os.path.lexists(failed["path"])
    assert len(lab.store().all("SELECT name FROM backups WHERE status='completed'")) == 5, out


def test_a_cleanup_under_the_clock_years_ahead_with_no_run_that_night_deletes_no_young_backup(tmp_path):
    """No backup ran under the clock that jumped (a `cleanup` by hand, a `run-due` with nothing
    due): nothing recorded is dated ahead to show the jump, and the source is judged as of a week
    after the server's newest backup all the same."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")])                                       # no schedule, default retention
    for day in range(1, 6):
        write_files(lab.src / "data", {f"v{day}": b"version %d" % day})
        assert lab.backup(lab.load(), now=datetime(2026, 10, day, 9)).status == "completed"
    done = rabtui(lab, "cleanup", "--now", "2030-01-01T03:00")
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(lab.store().all("SELECT name FROM backups WHERE status='completed'")) == 5, done.stdout
    assert ("loc: judged as of 2026-10-12 09:00, not 2030-01-01 03:00" in done.stdout
            and "no backup of any source" in done.stdout), done.stdout
    done = rabtui(lab, "run-due", "--now", "2030-01-02T03:00")
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(lab.store().all("SELECT name FROM backups WHERE status='completed'")) == 5, done.stdout


def test_a_cleanup_under_the_clock_years_ahead_with_no_run_that_night_says_so_once(tmp_path, capsys):
    """Judged as of a week after the server's newest backup, every source was said judged so, each
    with the same sentence: once, naming them."""
    lab = Lab(tmp_path, media_count=1)
    lab.write(lab._local_source([("data", "standard")], "", "loc") + lab._local_source([("hand", "standard")], "", "man"))
    for source in ("loc", "man"):
        assert lab.backup(lab.load(), source, now=datetime(2026, 10, 1, 9)).status == "completed"
    assert main(["--config", str(lab.config_path), "cleanup", "--dry-run", "--now", "2030-01-01T03:00"]) == 0
    out = capsys.readouterr().out
    assert out.count("no backup of any source ran") == 1, out
    assert "loc, man: judged as of 2026-10-08 09:00, not 2030-01-01 03:00" in out, out


def test_after_a_real_pause_of_two_months_retention_judges_by_the_clock_from_the_fourth_night(tmp_path, capsys):
    """The server was off two months: a cleanup before its first night keeps what a week after the
    last backup keeps, the three nights after keep what they keep for a jump, the fourth judges by
    the clock."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")], extra='schedule = "0 2 * * *"')
    lab.config_path.write_text(lab.config_path.read_text().replace(
        "[[media]]", "[retention]\nkeep_all_days = 10\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
        "keep_monthly_months = 0\nkeep_yearly_years = 0\n[[media]]", 1))
    cfg = ["--config", str(lab.config_path)]
    for day in range(3, 6):
        write_files(lab.src / "data", {f"v{day}": b"version %d" % day})
        assert main([*cfg, "run-due", "--now", f"2026-08-{day:02}T03:00"]) == 0

    def august() -> int:
        return len(lab.store().all("SELECT name FROM backups WHERE status='completed' AND name LIKE 'backup-202608%'"))

    assert main([*cfg, "cleanup", "--now", "2026-10-10T01:00"]) == 0
    assert august() == 3, capsys.readouterr().out
    for day in range(10, 13):
        assert main([*cfg, "run-due", "--now", f"2026-10-{day:02}T03:00"]) == 0
        assert august() == 3, capsys.readouterr().out
    assert main([*cfg, "run-due", "--now", "2026-10-13T03:00"]) == 0
    out = capsys.readouterr().out
    assert august() == 0, out
    assert len(lab.store().all("SELECT name FROM backups WHERE status='completed'")) == 4, out


def test_a_night_under_a_clock_days_ahead_takes_no_later_night_out(tmp_path, capsys):
    """One night the clock reads three days ahead (its backup dated 2026-10-05, for that day's time),
    right again the next. The time that backup was for, once less than a day ahead, is no time done:
    a backup made after it is dated before it (run-due made none on 10-04 and 10-05)."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")], extra='schedule = "0 2 * * *"')
    write_files(lab.src / "data", {"a": b"a"})
    cfg = ["--config", str(lab.config_path)]
    for now in ("2026-10-01T02:05", "2026-10-05T02:05", "2026-10-03T02:05", "2026-10-04T02:05", "2026-10-05T02:05"):
        assert main([*cfg, "run-due", "--now", now]) == 0
        assert "loc: completed" in capsys.readouterr().out, now


def test_a_night_under_a_clock_hours_ahead_takes_no_later_night_out(tmp_path, capsys):
    """At 18:05 the clock reads 8 hours ahead (the next night's 02:05): that backup is made for the
    next night's time. Set right at 18:20, the next night's 02:00 is due all the same (it was taken
    as done, and that night went without a backup)."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")], extra='schedule = "0 2 * * *"')
    write_files(lab.src / "data", {"a": b"a"})
    cfg = ["--config", str(lab.config_path)]
    for now in ("2026-10-01T02:05", "2026-10-02T02:05", "2026-10-01T18:20", "2026-10-02T02:05"):
        assert main([*cfg, "run-due", "--now", now]) == 0
        out = capsys.readouterr().out
        assert ("loc: completed" in out) == (now != "2026-10-01T18:20"), (now, out)
