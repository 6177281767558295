"""`rabtui jobs list|follow|answer|cancel` on the state database."""

from __future__ import annotations

import json
import threading

import pytest

from rabtui.cli import main
from rabtui.errors import EXIT_USAGE, Cancelled
from rabtui.events import ABORT, READY, LOG, Event, Question
from rabtui.state.jobs import JobRecorder
from rabtui.state.store import Store


@pytest.fixture
def cfg_path(tmp_path, write_config):
    return write_config(f"""
        [rabtui]
        state_dir = "{tmp_path}/state"
    """)


def test_list_answer_follow_cancel(cfg_path, tmp_path, capsys):
    store = Store(tmp_path / "state")
    rec = JobRecorder(store, "checkpoint", "images:/x", "checkpoint 7")
    rec.emit(Event(LOG, "disc 1 of 2 written"))
    got = []

    def job():
        got.append(rec.prompter().ask(Question("insert_disc", "Insert disc 2 of 2", [READY, ABORT]), rec.cancel))
        rec.emit(Event(LOG, "disc 2 of 2 written"))
        rec.finish("completed", 0, "2 discs verified")

    t = threading.Thread(target=job, daemon=True)
    t.start()
    for _ in range(600):     # a minute at most (a loaded machine)
        if store.one("SELECT id FROM prompts WHERE answer IS NULL"):
            break
        threading.Event().wait(0.1)
    assert main(["--config", str(cfg_path), "jobs", "list"]) == 0
    out = capsys.readouterr().out
    assert "waiting" in out and "checkpoint 7" in out and "rabtui jobs answer 1 {ready|abort}" in out

    assert main(["--config", str(cfg_path), "jobs", "answer", "1", "eject"]) == EXIT_USAGE
    assert main(["--config", str(cfg_path), "jobs", "answer", "99", "ready"]) == EXIT_USAGE
    assert main(["--config", str(cfg_path), "jobs", "answer", "1", "ready"]) == 0
    t.join(60)
    assert got == [READY]
    assert main(["--config", str(cfg_path), "jobs", "follow", str(rec.job_id)]) == 0
    out = capsys.readouterr().out
    assert "disc 2 of 2 written" in out and "completed: 2 discs verified" in out

    assert main(["--config", str(cfg_path), "jobs", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["jobs"][0]["status"] == "completed" and data["open_prompts"] == []

    other = JobRecorder(store, "backup", "web1", "backup web1")
    assert main(["--config", str(cfg_path), "jobs", "cancel", str(other.job_id)]) == 0
    assert other.cancel.wait(60), "the job's cancel event is set by the request"
    other.finish("cancelled", 1)
    assert main(["--config", str(cfg_path), "jobs", "cancel", "999"]) == EXIT_USAGE
    capsys.readouterr()
    # one that has ended is said to have ended, as the Runs screen says it (it was "cancel requested",
    # exit 0), and is left as it ended
    assert main(["--config", str(cfg_path), "jobs", "cancel", str(rec.job_id)]) == EXIT_USAGE
    assert f"rabtui: job {rec.job_id} has ended (completed): nothing to stop" in capsys.readouterr().err
    assert store.one("SELECT cancel_requested FROM jobs WHERE id=?", (rec.job_id,))["cancel_requested"] == 0


def test_a_question_is_answered_once_and_only_while_its_job_waits(cfg_path, tmp_path, capsys):
    """Answered from the UI and then from a terminal (or twice from two terminals): the second
    answer is refused, not reported as given. A job cancelled while asking leaves no question."""
    store = Store(tmp_path / "state")
    conf = ["--config", str(cfg_path)]
    rec = JobRecorder(store, "checkpoint", "images:/x", "checkpoint 7")
    got = []
    t = threading.Thread(target=lambda: got.append(rec.prompter().ask(
        Question("insert_disc", "Insert disc 1 of 2", [READY, ABORT]), rec.cancel)), daemon=True)
    t.start()
    for _ in range(600):     # a minute at most (a loaded machine)
        if store.one("SELECT id FROM prompts WHERE answer IS NULL"):
            break
        threading.Event().wait(0.1)
    assert main([*conf, "jobs", "answer", "1", "abort"]) == 0
    assert main([*conf, "jobs", "answer", "1", "ready"]) == EXIT_USAGE
    assert "question 1 was already answered at" in (err := capsys.readouterr().err) and ": abort" in err
    t.join(60)
    assert got == [ABORT]
    rec.finish("cancelled", 1)

    other = JobRecorder(store, "checkpoint", "images:/x", "checkpoint 8")

    def asks():
        with pytest.raises(Cancelled):
            other.prompter().ask(Question("insert_disc", "Insert disc 2 of 2", [READY, ABORT]), other.cancel)

    t = threading.Thread(target=asks, daemon=True)
    t.start()
    for _ in range(600):     # a minute at most (a loaded machine)
        if store.one("SELECT id FROM prompts WHERE answer IS NULL"):
            break
        threading.Event().wait(0.1)
    other.cancel.set()
    t.join(60)
    other.finish("cancelled", 1, "cancelled while waiting for an answer")
    assert main([*conf, "jobs", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["open_prompts"] == []
    assert main([*conf, "jobs", "answer", "2", "ready"]) == EXIT_USAGE
    assert "is no longer waiting for an answer (cancelled); nothing was answered" in capsys.readouterr().err


def test_a_finished_job_writes_nothing_more(tmp_path):
    """A job's watcher (a daemon thread) wrote its heartbeat after the job had finished: one still
    writing when the process ended was cut off there, in the middle of writing the WAL back."""
    store = Store(tmp_path / "state")
    rec = JobRecorder(store, "backup", "web1", "backup web1")
    rec.finish("completed", 0, "done")
    assert not rec._watcher.is_alive()
    assert store.one("SELECT status FROM jobs WHERE id=?", (rec.job_id,))["status"] == "completed"


def test_a_cancel_written_after_its_job_ended_writes_nothing(tmp_path):
    """`jobs cancel` and x in Runs look at the job's status, then write the request: a job that ends
    between the two is left as it ended, and the cancel is said to have found it ended (it said
    "cancel requested" of a job that had completed)."""
    from rabtui.state import jobs

    store = Store(tmp_path / "state")
    rec = JobRecorder(store, "backup", "web1", "backup web1")
    rec.finish("completed", 0, "done")
    assert jobs.request_cancel(store, rec.job_id) is None
    assert jobs.request_cancel(store, rec.job_id, again=True) is None
    assert store.one("SELECT cancel_requested FROM jobs WHERE id=?", (rec.job_id,))["cancel_requested"] == 0
    live = JobRecorder(store, "backup", "web1", "backup web1")
    assert jobs.request_cancel(store, live.job_id) == "running" and live.cancel.wait(60)
    live.finish("cancelled", 1)


def test_the_cancel_of_a_job_whose_process_was_killed_says_it_is_dead(cfg_path, tmp_path, capsys):
    """A job whose process was killed (its row still running: no screen or command had looked since):
    `jobs cancel` says that it has ended (dead) and nothing was to stop, exit 2, and writes nothing
    (it said "cancel requested", exit 0, for a job no process ran any more)."""
    from tests.test_restore_killed_leftovers import _dead_pid

    store = Store(tmp_path / "state")
    rec = JobRecorder(store, "backup", "web1", "backup web1")
    rec._stop.set()     # its watcher's heartbeats end, as with its process
    rec._watcher.join(60)
    store.execute("UPDATE jobs SET pid=?, pid_ident=NULL WHERE id=?", (_dead_pid(), rec.job_id))
    assert main(["--config", str(cfg_path), "jobs", "cancel", str(rec.job_id)]) == EXIT_USAGE
    assert capsys.readouterr().err.strip() == f"rabtui: job {rec.job_id} has ended (dead): nothing to stop"
    assert store.one("SELECT cancel_requested FROM jobs WHERE id=?", (rec.job_id,))["cancel_requested"] == 0


def test_follow_says_a_backups_status_once(cfg_path, tmp_path, capsys):
    """A backup's job summary begins with its status ("failed: post-backup ..."): follow's last line
    says it once, not "job 1: completed: completed"."""
    store = Store(tmp_path / "state")
    done = JobRecorder(store, "backup", "web1", "backup of web1")
    done.finish("completed", 0, "completed")
    failed = JobRecorder(store, "backup", "web1", "backup of web1")
    failed.finish("failed", 1, "failed: the source is not reachable")
    cfg = ["--config", str(cfg_path), "jobs", "follow"]
    assert main(cfg + [str(done.job_id)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"job {done.job_id}: completed"
    assert main(cfg + [str(failed.job_id)]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == f"job {failed.job_id}: failed: the source is not reachable"


def test_cancel_with_post_commands_too_says_what_happens(tmp_path, write_config, capsys):
    """--post-commands-too names the post-backup commands only where some are to be stopped: a
    source without any, a job of another kind and a job that has not begun (none of its commands
    run) are each said as they are; of a backup under way, whether they are running, yet to run or
    ended, as its steps record (it said "its post-backup commands too" when they had ended), also
    where the config names none since the backup began (it said its source has none as they ran);
    without --post-commands-too, that a cancel stops them where they run before any cancel (a
    complete backup's: it said nothing of them)."""
    from rabtui.backup.records import RunRecord
    from rabtui.state import jobs

    cfg_path = write_config(f"""
        [rabtui]
        state_dir = "{tmp_path}/state"
        [[sources]]
        id = "bare"
        [[sources.directories]]
        path = "/srv/a"
        [[sources]]
        id = "undo"
        post_backup_commands = ["true"]
        [[sources.directories]]
        path = "/srv/b"
    """)
    store = Store(tmp_path / "state")

    def said(job_id: int) -> str:
        assert main(["--config", str(cfg_path), "jobs", "cancel", str(job_id), "--post-commands-too"]) == 0
        return capsys.readouterr().out.strip()

    with jobs.queued(store, "backup", [("undo", "backup undo")]) as ids:
        assert said(ids["undo"]) == (f"cancel requested for job {ids['undo']}: it has not begun, so it never starts"
                                     " (none of its commands run)")
    bare = JobRecorder(store, "backup", "bare", "backup bare")
    assert said(bare.job_id) == f"cancel requested for job {bare.job_id} (its source has no post-backup commands)"
    undo = JobRecorder(store, "backup", "undo", "backup undo")
    assert said(undo.job_id) == (f"cancel requested for job {undo.job_id}, its post-backup commands too: they have"
                                 " not begun (none of them runs to its end)")
    said_at = {}
    record = RunRecord(store, source="undo", medium="m", name="backup-x", path=tmp_path / "b", started=0,
                       job_id=undo.job_id)
    for state in ("pending", "running", "ok", "failed", "skipped"):
        record.step(6, state)
        said_at[state] = said(undo.job_id).removeprefix(f"cancel requested for job {undo.job_id}")
    assert said_at == {
        "pending": ", its post-backup commands too: they have not begun (none of them runs to its end)",
        "running": ", its post-backup commands too: they are running",
        "ok": " (its post-backup commands have ended (ok): nothing of them is left to stop)",
        "failed": " (its post-backup commands have ended (failed): nothing of them is left to stop)",
        "skipped": " (its backup runs no post-backup commands)"}, said_at     # the config edited since it began
    bare_record = RunRecord(store, source="bare", medium="m", name="backup-y", path=tmp_path / "c", started=0,
                            job_id=bare.job_id)
    bare_record.step(6, "running")     # the config read at its start named some: the config edited since
    assert said(bare.job_id) == f"cancel requested for job {bare.job_id}, its post-backup commands too: they are running"
    whole = JobRecorder(store, "backup", "undo", "backup undo")    # its post-backup commands run, not cancelled
    RunRecord(store, source="undo", medium="m", name="backup-z", path=tmp_path / "d", started=0,
              job_id=whole.job_id).step(6, "running")
    assert main(["--config", str(cfg_path), "jobs", "cancel", str(whole.job_id)]) == 0
    assert capsys.readouterr().out.strip() == (f"cancel requested for job {whole.job_id}, its post-backup commands"
                                               " too: they were running (what they were to undo stays undone); the data"
                                               " it copied whole is kept")
    burn = JobRecorder(store, "checkpoint", "images:/x", "checkpoint 7")
    assert said(burn.job_id) == f"cancel requested for job {burn.job_id} (a checkpoint job has no post-backup commands)"
    for rec in (bare, undo, whole, burn):
        assert rec.cancel.wait(60)
        rec.finish("cancelled", 1)


@pytest.mark.parametrize("text", ["\u0661", "\uff11", "\u0967", " 1", "+1", "1_0", "\U0001d7cf"],
                         ids=["arabic-indic", "fullwidth", "devanagari", "space", "plus", "underscore",
                              "mathematical"])
def test_a_job_id_is_written_in_ascii_digits(cfg_path, tmp_path, capsys, text):
    """An id that Python's int() reads though it is no plain number (Arabic-Indic, fullwidth or
    other Unicode digits, a sign, spaces, an underscore) is a usage error, exit 2, nothing written:
    "١" cancelled job 1, and "1_0" job 10."""
    store = Store(tmp_path / "state")
    rec = JobRecorder(store, "backup", "web1", "backup web1")
    with pytest.raises(SystemExit) as refused:
        main(["--config", str(cfg_path), "jobs", "cancel", text])
    assert refused.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "rabtui: argument job_id: not a whole number: " in err and "(write it in digits 0-9)" in err and "Traceback" not in err, err
    assert store.one("SELECT cancel_requested FROM jobs WHERE id=?", (rec.job_id,))["cancel_requested"] == 0
    rec.finish("completed", 0, "done")


def test_a_job_id_of_thousands_of_digits_is_out_of_range(cfg_path, capsys):
    """int() refuses more than 4,300 digits: argparse then said "invalid number value" with the
    whole of them; now out of range, as any id too large, its digits counted."""
    with pytest.raises(SystemExit) as refused:
        main(["--config", str(cfg_path), "jobs", "cancel", "1" * 5000])
    assert refused.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.endswith("rabtui: argument job_id: 111111111111... (5000 digits) is out of range: give a number from"
                        " 1 to 9223372036854775807\n"), err[-300:]


@pytest.mark.parametrize("text, shown", [("", '""'), (" 1", '" 1"'), ("x" * 5000, None)], ids=["empty", "space", "long"])
def test_an_id_not_a_number_is_shown_quoted_and_short(cfg_path, capsys, text, shown):
    """An empty id or one with spaces was shown as nothing, or its spaces unseen ("number:  1"); one
    of thousands of characters was printed whole."""
    with pytest.raises(SystemExit) as refused:
        main(["--config", str(cfg_path), "jobs", "cancel", text])
    assert refused.value.code == EXIT_USAGE
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("rabtui: argument job_id: not a whole number: ") and len(err) < 200, err[:300]
    if shown is not None:
        assert err == f"rabtui: argument job_id: not a whole number: {shown} (write it in digits 0-9)"
