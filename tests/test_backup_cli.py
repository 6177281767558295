"""`rabtui backup`, `rabtui status` and `rabtui media label` from the command line: exit codes,
job records, plain output for cron."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

from rabtui.actions import status as status_action
from rabtui.media import medium as media
from rabtui.cli import main
from tests import preloaded
from tests.trees import Lab, write_files


def _run(lab: Lab, *argv: str) -> int:
    return main(["--config", str(lab.config_path), *argv])


def _two_sources(lab: Lab, second_extra: str = "") -> None:
    for name in ("one", "two"):
        (lab.src / name).mkdir()
        write_files(lab.src / name, {"f": name})
    lab.write(textwrap.dedent(f"""
        [[sources]]
        id = "one"
        [[sources.directories]]
        path = "{lab.src / 'one'}"
        [[sources]]
        id = "two"
        {second_extra}
        [[sources.directories]]
        path = "{lab.src / 'two'}"
    """))


def test_backup_one_source_records_a_job(tmp_path, capsys):
    lab = Lab(tmp_path)
    lab.local()
    write_files(lab.src / "data", {"a": b"1"})
    assert _run(lab, "backup", "loc") == 0
    out = capsys.readouterr().out
    # plain timestamped lines without a terminal (cron)
    assert "step 5/7 rsync: ok" in out and "backup of loc: completed" in out
    assert all(line[:4].isdigit() for line in out.splitlines())
    store = lab.store()
    job = store.one("SELECT * FROM jobs")
    assert (job["kind"], job["target"], job["status"], job["exit_code"]) == ("backup", "loc", "completed", 0)
    kinds = {r["kind"] for r in store.all("SELECT kind FROM events WHERE job_id=?", (job["id"],))}
    assert {"step", "result"} <= kinds
    assert store.one("SELECT job_id FROM backups")[0] == job["id"]


def test_a_failures_hint_stays_on_its_line_in_the_plain_output(tmp_path, capsys):
    """Each plain line is one event, escaped (a name holding a newline cannot forge a line): a
    failure's hint follows its message after "; ", not after an escaped line break."""
    import socket

    lab = Lab(tmp_path)
    with socket.socket() as closed:     # bound, not listening: connections are refused, and no other test takes it
        closed.bind(("127.0.0.1", 0))
        lab.write(f'[[sources]]\nid = "web"\nhost = "127.0.0.1"\nport = {closed.getsockname()[1]}\n'
                  f'[[sources.directories]]\npath = "/srv"\n')
        assert _run(lab, "backup", "web") == 1
    out = capsys.readouterr().out
    assert "connection refused; is sshd running there, on this port?" in out, out
    assert "\\n" not in out and all(line[:4].isdigit() for line in out.splitlines())
    reason = lab.store().one("SELECT reason FROM backups")["reason"]
    assert reason.endswith("connection refused; is sshd running there, on this port?"), reason


def test_an_errors_hint_of_several_lines_is_one_line_in_a_reason():
    from rabtui.errors import WorkFailed

    error = WorkFailed("the command failed (exit 3)", hint="one\n  two\n\n  three")
    assert str(error) == "the command failed (exit 3); one | two | three"
    assert str(WorkFailed("no hint")) == "no hint"


def test_a_name_in_a_hint_cannot_forge_a_line_of_the_error(capsys):
    from rabtui.cli import _say
    from rabtui.errors import WorkFailed

    path = "/mnt/usb\nrabtui: backup of web: completed\x1b[2J"
    _say(WorkFailed("medium m1 is not mounted", hint=f"mount the medium at {path}\n  then run again"))
    err = capsys.readouterr().err
    assert err.splitlines() == ["rabtui: medium m1 is not mounted", "  mount the medium at /mnt/usb",
                                "  rabtui: backup of web: completed\\033[2J", "  then run again"], err


def test_sources_test_escapes_what_the_source_said(tmp_path, capsys, monkeypatch):
    """The hint of a failed whoami is the source's own output (a shell start-up file's chatter)."""
    from rabtui.actions import sources as source_actions
    from rabtui.errors import WorkFailed

    lab = Lab(tmp_path)
    lab.local()

    def whoami(cfg, source):
        raise WorkFailed("loc: whoami failed on h (exit 1)", hint="\x1b]0;owned\x07\x1b[2Jmotd\n  second line")
    monkeypatch.setattr(source_actions, "whoami", whoami)
    assert _run(lab, "sources", "test") == 1
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out, repr(out)
    assert out.splitlines()[1:] == ["     \\033]0;owned\\a\\033[2Jmotd", "     second line"], out
    assert out.splitlines()[0].endswith("loc: whoami failed on h (exit 1)"), out


def test_usage_errors_exit_2(tmp_path, capsys):
    lab = Lab(tmp_path)
    lab.local()
    assert _run(lab, "backup", "nope") == 2
    assert _run(lab, "backup") == 2
    assert _run(lab, "backup", "--medium", "zzz", "loc") == 2
    assert "no source with id 'nope'" in capsys.readouterr().err
    lab.write("")
    assert _run(lab, "backup", "--all") == 2
    assert lab.store().one("SELECT COUNT(*) FROM backups")[0] == 0


def test_all_sources_share_one_medium_and_the_worst_exit_wins(tmp_path, capsys):
    lab = Lab(tmp_path)
    _two_sources(lab, second_extra='pre_backup_commands = ["exit 4"]')
    assert _run(lab, "backup", "--all") == 1
    rows = lab.store().all("SELECT source, medium, status FROM backups ORDER BY source")
    assert [(r["source"], r["medium"], r["status"]) for r in rows] == [("one", "m1", "completed"), ("two", "m1", "failed")]
    assert "error: backup of two failed: pre-backup command failed (exit 4)" in capsys.readouterr().out
    # the next run takes the next medium
    lab.config_path.write_text(lab.config_path.read_text().replace('pre_backup_commands = ["exit 4"]', ""))
    assert _run(lab, "backup", "one", "two") == 0
    assert {r[0] for r in lab.store().all("SELECT medium FROM backups WHERE id > 2")} == {"m2"}


def test_the_worst_exit_of_a_runs_parts_does_not_depend_on_their_order():
    from functools import reduce
    from itertools import combinations, permutations

    from rabtui.errors import worst_exit
    parts = (0, 3, 1, 2, 130)
    for n in range(2, len(parts) + 1):
        for chosen in combinations(parts, n):
            assert len({reduce(worst_exit, order) for order in permutations(chosen)}) == 1, chosen
    assert worst_exit(3, 1) == worst_exit(1, 3) == 1 and worst_exit(1, 2) == worst_exit(2, 1) == 2


def test_warnings_exit_3(tmp_path):
    lab = Lab(tmp_path)
    lab.local([("data", "standard"), ("gone", "standard")])
    lab.config_path.write_text(lab.config_path.read_text() + "allow_empty = true\n")   # on "gone", the last
    (lab.src / "gone").rmdir()
    assert _run(lab, "backup", "loc") == 3
    assert lab.store().one("SELECT status FROM jobs")[0] == "warnings"


def test_failures_and_warnings_of_a_backup_from_the_command_line_are_notified(tmp_path):
    lab = Lab(tmp_path)
    events = tmp_path / "events.jsonl"
    script = tmp_path / "alert.py"
    script.write_text(f"import sys\nopen({str(events)!r}, 'a').write(sys.stdin.read())\n")
    _two_sources(lab, second_extra='pre_backup_commands = ["exit 4"]')
    lab.config_path.write_text(lab.config_path.read_text().replace(
        "[[media]]", f'[notify]\ncommand = "{sys.executable} {script}"\n\n[[media]]', 1))
    assert _run(lab, "backup", "--all") == 1
    sent = [json.loads(line) for line in events.read_text().splitlines()]
    assert [(e["kind"], e["level"], e["source"]) for e in sent] == [("backup_failed", "failed", "two")]
    assert "pre-backup command failed (exit 4)" in sent[0]["message"] and sent[0]["data"]["exit_code"] == 1
    one = f'path = "{lab.src / "one"}"\n'
    lab.config_path.write_text(lab.config_path.read_text().replace(one, one + "allow_empty = true\n"))
    (lab.src / "one").rename(lab.src / "moved")
    assert _run(lab, "backup", "one") == 3
    sent = [json.loads(line) for line in events.read_text().splitlines()]
    assert [(e["kind"], e["level"], e["source"]) for e in sent[1:]] == [("backup_warnings", "warning", "one")]


def test_job_id_takes_over_a_queued_job(tmp_path):
    lab = Lab(tmp_path)
    lab.local()
    store = lab.store()
    job_id = store.execute("INSERT INTO jobs(kind, target, status, started) VALUES ('backup', 'loc', 'queued', ?)",
                           (time.time(),)).lastrowid
    assert _run(lab, "backup", "loc", "--job-id", str(job_id)) == 0
    assert store.one("SELECT COUNT(*) FROM jobs")[0] == 1
    assert store.one("SELECT status FROM jobs WHERE id=?", (job_id,))[0] == "completed"


HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from rabtui.state import locks
    with locks.source_lock(sys.argv[1], "loc"):
        print("held", flush=True)
        time.sleep(60)
""")


def test_a_running_backup_is_not_started_twice(tmp_path, capsys):
    lab = Lab(tmp_path)
    cfg = lab.local()
    holder = preloaded.Popen([sys.executable, "-c", HOLD_LOCK, str(cfg.state_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert _run(lab, "backup", "loc") == 1
        assert "a backup of loc is already running since" in capsys.readouterr().err
        status = _status(lab, capsys)
        assert status["sources"][0]["running"] is True
    finally:
        holder.kill()
        holder.wait()
    assert lab.store().one("SELECT status FROM jobs")[0] == "failed"


def _status(lab: Lab, capsys) -> dict:
    capsys.readouterr()
    assert _run(lab, "status", "--json") == 0
    return json.loads(capsys.readouterr().out)


def test_status(tmp_path, capsys):
    lab = Lab(tmp_path)
    lab.local()
    write_files(lab.src / "data", {"a": b"12345"})
    status = _status(lab, capsys)
    assert status["sources"][0]["last"] is None
    assert [m["next"] for m in status["media"]] == [True, False]
    assert _run(lab, "backup", "loc") == 0
    status = _status(lab, capsys)
    last = status["sources"][0]["last"]
    assert (last["status"], last["medium"], last["total_bytes"], last["new_bytes"]) == ("completed", "m1", 5, 5)
    assert [(m["id"], m["label"], m["next"]) for m in status["media"]] == [("m1", "m1", False), ("m2", None, True)]
    assert status["media"][0]["last_used"] and status["media"][0]["free_bytes"] > 0
    counters = status["checkpoint_counters"]
    assert counters == [{
        "source": "loc", "path": str(lab.src / "data"), "kind": "standard", "changed_since_checkpoint": 1,
        "max_changed_files": 10000, "last_checkpoint": None, "last_checkpoint_time": None, "max_days": 90,
        "did_not_fit": None,
    }]
    assert status["jobs"] == []
    assert _run(lab, "status") == 0
    text = capsys.readouterr().out
    assert "loc (local): completed" in text and "<- next" in text and "1/10000 changed files" in text


def test_status_reads_no_label_of_a_medium_not_mounted(tmp_path, capsys):
    """A medium with a device is unmounted between its uses: status said "no label" of it, as if
    its disk had lost its label."""
    lab = Lab(tmp_path)
    lab.local()
    m2 = lab.media[1][1]
    lab.config_path.write_text(lab.config_path.read_text().replace(
        f'path = "{m2}"', f'path = "{m2}"\ndevice = "/dev/rabtui-no-such-disk"'))
    capsys.readouterr()
    assert _run(lab, "status") == 0
    text = capsys.readouterr().out
    assert f"m2: {m2}, not mounted, label not read," in text, text
    assert f"m1: {lab.media[0][1]}, mounted, no label," in text, text


def test_status_says_a_medium_without_device_whose_disk_is_not_mounted_is_not_mounted(tmp_path, capsys, tmpfs):
    """A medium with no `device` whose disk was mounted at its path when last used, now an empty
    directory there: status said "mounted, no label", where a backup refuses it as not mounted; the
    Media screen's label said "no label" too."""
    lab = Lab(tmp_path)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"1"})
    m1 = tmpfs(lab.media[0][1], "size=4m")
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    subprocess.run(["umount", "-l", str(m1)], check=True)
    capsys.readouterr()
    assert _run(lab, "status") == 0
    text = capsys.readouterr().out
    assert f"m1: {m1}, not mounted, label not read," in text, text
    assert f"m2: {lab.media[1][1]}, mounted, no label," in text, text
    shown = {m.id: m for m in status_action.media(lab.load(), lab.store())}
    assert not shown["m1"].mounted and shown["m1"].label_text == "label not read"
    assert shown["m2"].mounted and shown["m2"].label_text == "no label"


def test_media_label(tmp_path, capsys):
    lab = Lab(tmp_path)
    lab.local()
    m1, m2 = lab.media[0][1], lab.media[1][1]
    assert _run(lab, "media", "label", "m1") == 0
    assert media.read_label(m1)["id"] == "m1"
    assert _run(lab, "media", "label", "m1") == 0          # already labelled: fine
    (m2 / "stuff").write_text("x")
    assert _run(lab, "media", "label", "m2") == 1
    assert "holds files but no label" in capsys.readouterr().err
    assert media.read_label(m2) is None
    assert _run(lab, "media", "label", "m2", "--force") == 0
    assert media.read_label(m2)["id"] == "m2"
    (m1 / ".rabtui-medium").write_text(json.dumps({"id": "m2"}))
    assert _run(lab, "media", "label", "m1") == 1
    assert _run(lab, "media", "label", "nope") == 2


def test_displays_show_steps_progress_and_result(capsys):
    from rabtui.cli.progress import PlainDisplay, RichDisplay, terminal_emit
    from rabtui.events import ITEM, LOG, PROGRESS, RESULT, STEP, WARNING, Event

    events = [
        Event(STEP, "step 5/7 rsync: running", {"step": 5, "state": "running"}),
        Event(PROGRESS, "", {"done_bytes": 1 << 20, "total_bytes": 4 << 20, "percent": 25, "rate": 1e6, "eta": 3,
                             "dir": "/etc", "dir_index": 0, "dirs": 2}),
        Event(ITEM, "etc/passwd", {"name": "/etc/passwd"}),
        Event(LOG, "a log line"),
        Event(WARNING, "some files vanished"),
        Event(STEP, "step 5/7 rsync: ok", {"step": 5, "state": "ok"}),
        Event(RESULT, "backup of web: completed", {"total_bytes": 3 << 20, "new_bytes": 1 << 20}),
    ]
    assert isinstance(terminal_emit(tty=False), PlainDisplay)
    with terminal_emit(tty=False) as plain:
        for e in events:
            plain.emit(e)
    out = capsys.readouterr().out.splitlines()
    assert [line[20:] for line in out] == [
        "warning: some files vanished", "step 5/7 rsync: ok", "backup of web: completed: total 3.0 MiB, new 1.0 MiB",
    ]
    with RichDisplay() as rich:
        for e in events:
            rich.emit(e)
    out = capsys.readouterr().out
    assert "step 5/7 rsync: ok" in out and "total 3.0 MiB, new 1.0 MiB" in out and "a log line" not in out
