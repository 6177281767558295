"""Several sources at once (`backup --all`, several ids, `run-due`) with `max_parallel`: all onto
the day's medium, one job per source, a hung or failing source holds back no other, the exit code
is the worst, and parallel writers never see "database is locked" (real rsync, real sshd)."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from rabtui.cli import main
from rabtui.cli.progress import PlainDisplay, RichSourcesDisplay, terminal_emit
from rabtui.config import ConfigError
from rabtui.events import LOG, PROGRESS, RESULT, STEP, WARNING, Event
from rabtui.state.jobs import INTERRUPTED
from tests import preloaded
from tests.procs import processes
from tests.test_backup_failures import _rsync_pids
from tests.trees import Lab, gate_command, ssh_source_lines, write_files


def _sources(lab: Lab, names: list[str], files: int = 40, extra: dict[str, str] | None = None,
             rabtui: str = "") -> None:
    """Local sources `names`, each with one directory of `files` small files (and a subdirectory);
    `extra`: more lines of a source's table; `rabtui`: more lines of the [rabtui] table."""
    text = ""
    for name in names:
        root = lab.src / name
        write_files(root, {f"f{i:03}": f"{name} {i}" for i in range(files)} | {"sub/deep": name})
        text += f'[[sources]]\nid = "{name}"\n{(extra or {}).get(name, "")}\n[[sources.directories]]\npath = "{root}"\n'
    lab.write(text)
    if rabtui:
        lab.config_path.write_text(lab.config_path.read_text().replace("[rabtui]\n", f"[rabtui]\n{rabtui}\n", 1))


def _run(lab: Lab, *argv: str) -> int:
    return main(["--config", str(lab.config_path), *argv])


def _start_run(lab: Lab, *argv: str, running: int = 1):
    """`rabtui ARGV` as a process of its own, once `running` of its backups run their pre-backup
    command (read-only and apart from Store: the process may still be creating the database)."""

    child = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90      # logins and mounts first, on a machine that may be loaded
    while time.monotonic() < deadline:
        time.sleep(0.1)
        try:
            with contextlib.closing(sqlite3.connect(f"file:{lab.state / 'rabtui.db'}?mode=ro", uri=True)) as db:
                now = db.execute("SELECT COUNT(*) FROM backup_steps WHERE step=4 AND state='running'").fetchone()[0]
        except sqlite3.Error:
            continue
        if now == running:
            return child
    child.kill()
    pytest.fail(f"{running} backup(s) never reached their pre-backup command")


def _tree_files(root) -> set[bytes]:
    """Every file below `root`, as the catalog names it: relative to /."""
    return {os.path.join(dirpath, name).lstrip(b"/")
            for dirpath, _, names in os.walk(os.fsencode(root)) for name in names}


def _catalog(store, backup_id: int) -> set[bytes]:
    """The files the catalog says the backup holds: versions of its source on its medium whose
    range of backup ids holds its id."""
    rows = store.all("SELECT p.path FROM backups b JOIN paths p ON p.source=b.source"
                     " JOIN versions v ON v.path_id=p.id AND v.medium=b.medium"
                     " WHERE b.id=:b AND v.first_backup<=:b AND v.last_backup>=:b", {"b": backup_id})
    return {bytes(r["path"]) for r in rows}


def _spans(store) -> dict[str, tuple[float, float]]:
    """Each backup's real time span (its steps' first start, last end), by source."""
    rows = store.all("SELECT b.source, MIN(s.started) AS a, MAX(s.finished) AS z FROM backups b"
                     " JOIN backup_steps s ON s.backup_id=b.id GROUP BY b.id")
    return {r["source"]: (r["a"], r["z"]) for r in rows}


def _no_locked_anywhere(lab: Lab, store, *texts: str) -> None:
    seen = list(texts)
    seen += [r["message"] or "" for r in store.all("SELECT message FROM events")]
    seen += [r["summary"] or "" for r in store.all("SELECT summary FROM jobs")]
    seen += [r["reason"] or "" for r in store.all("SELECT reason FROM backups")]
    for _, medium in lab.media:
        seen += [p.read_text(errors="replace") for p in medium.glob("*/backup-*/backup.log")]
    logs = lab.state / "logs"
    if logs.is_dir():
        seen += [p.read_text(errors="replace") for p in logs.iterdir() if p.is_file()]
    assert not [t for t in seen if "locked" in t.lower()]


def test_max_parallel_default_and_bounds(tmp_path):
    lab = Lab(tmp_path)
    assert lab.local().rabtui.max_parallel == 4
    lab.config_path.write_text(lab.config_path.read_text().replace("[rabtui]\n", "[rabtui]\nmax_parallel = 8\n", 1))
    assert lab.load().rabtui.max_parallel == 8
    lab.config_path.write_text(lab.config_path.read_text().replace("max_parallel = 8", "max_parallel = 0"))
    with pytest.raises(ConfigError, match=r"rabtui.toml:2: rabtui.max_parallel: must be at least 1"):
        lab.load()
    assert _run(lab, "backup", "--all") == 2


def test_eight_sources_at_once_all_complete_with_their_catalogs(tmp_path, capsys):
    lab = Lab(tmp_path)
    names = [f"s{i}" for i in range(8)]
    # a pre-command that takes a moment: the eight runs are under way at the same time
    pre = 'pre_backup_commands = ["sleep 1"]'
    _sources(lab, names, files=1000, extra={n: pre for n in names}, rabtui="max_parallel = 8")
    assert _run(lab, "backup", "--all") == 0
    out, err = capsys.readouterr()
    store = lab.store()
    rows = store.all("SELECT * FROM backups ORDER BY source")
    assert [(r["source"], r["medium"], r["status"]) for r in rows] == [(n, "m1", "completed") for n in names]
    for row in rows:
        assert _catalog(store, row["id"]) == _tree_files(lab.src / row["source"]), row["source"]
    jobs = store.all("SELECT target, status, exit_code FROM jobs ORDER BY target")
    assert [(j["target"], j["status"], j["exit_code"]) for j in jobs] == [(n, "completed", 0) for n in names]
    spans = _spans(store).values()
    assert max(a for a, _ in spans) < min(z for _, z in spans), "the eight backups did not run at the same time"
    # without a terminal: plain lines, each after its source's id (said once)
    for name in names:
        assert f" {name}: step 5/7 rsync: ok" in out and f" {name}: completed: total " in out
    assert "backup of" not in out
    # again on the same medium, each linked to its first backup, a file changed and one added
    for name in names:
        write_files(lab.src / name, {"f000": "changed", "new": name})
    assert _run(lab, "backup", "--all", "--medium", "m1") == 0
    out2, err2 = capsys.readouterr()
    rows = store.all("SELECT * FROM backups WHERE id > 8 ORDER BY source")
    assert [(r["source"], r["medium"], r["status"]) for r in rows] == [(n, "m1", "completed") for n in names]
    for row in rows:
        assert _catalog(store, row["id"]) == _tree_files(lab.src / row["source"]), row["source"]
    _no_locked_anywhere(lab, store, out, err, out2, err2)


def test_a_hung_and_a_failing_source_hold_back_no_other(tmp_path, capsys):
    lab = Lab(tmp_path)
    names = ["hung", "bad", "ok1", "ok2", "ok3"]
    extra = {"hung": 'pre_backup_commands = ["sleep 30"]', "bad": 'pre_backup_commands = ["exit 4"]'}
    _sources(lab, names, extra=extra, rabtui="max_parallel = 3\ncommand_timeout = 2")
    started = time.monotonic()
    assert _run(lab, "backup", "--all") == 1          # the worst of 1, 1, 0, 0, 0
    assert time.monotonic() - started < 25
    out = capsys.readouterr().out
    store = lab.store()
    rows = {r["source"]: r for r in store.all("SELECT * FROM backups")}
    assert {n: rows[n]["status"] for n in names} == {"hung": "failed", "bad": "failed", "ok1": "completed",
                                                     "ok2": "completed", "ok3": "completed"}
    assert "pre-backup command timed out after 2 s" in rows["hung"]["reason"]
    assert "pre-backup command failed (exit 4)" in rows["bad"]["reason"]
    # the three good ones (two of them queued behind the hung one and the failing one) ended first
    assert max(rows[n]["finished"] for n in ("ok1", "ok2", "ok3")) < rows["hung"]["finished"]
    assert " bad: error: backup of bad failed: pre-backup command failed (exit 4)" in out
    assert " hung: error: backup of hung failed: pre-backup command timed out after 2 s" in out
    assert {r["medium"] for r in rows.values()} == {"m1"}
    jobs = {j["target"]: j for j in store.all("SELECT * FROM jobs")}
    assert {n: jobs[n]["exit_code"] for n in names} == {"hung": 1, "bad": 1, "ok1": 0, "ok2": 0, "ok3": 0}


def test_run_due_runs_the_due_sources_at_once_onto_one_medium(tmp_path, capsys):
    lab = Lab(tmp_path)
    names = ["a", "b", "c"]
    extra = {n: 'schedule = "0 2 * * *"\npre_backup_commands = ["sleep 1"]' for n in names}
    _sources(lab, names, extra=extra)
    assert _run(lab, "run-due", "--now", "2026-10-01T03:00") == 0
    out = capsys.readouterr().out
    for name in names:
        assert f"{name}: due (schedule time 2026-10-01 02:00)" in out and f"{name}: completed" in out
    store = lab.store()
    rows = store.all("SELECT source, medium, status FROM backups ORDER BY source")
    # one medium for the whole run (before, each source took the next medium of the rotation)
    assert [(r["source"], r["medium"], r["status"]) for r in rows] == [(n, "m1", "completed") for n in names]
    spans = _spans(store).values()
    assert max(a for a, _ in spans) < min(z for _, z in spans), "run-due ran the sources one after another"
    assert [j["status"] for j in store.all("SELECT status FROM jobs")] == ["completed"] * 3
    _no_locked_anywhere(lab, store, out)


def test_a_huge_max_parallel_keeps_within_the_open_file_limit(tmp_path):
    """max_parallel = 1000 with 40 sources and `ulimit -n 256`: the backups ran out of file
    descriptors, failed by the dozen ("Too many open files"), some left running in the database,
    and the run ended in a traceback. Now as many run at once as the limit leaves room for, said
    in a warning, and all complete."""
    import resource

    lab = Lab(tmp_path, media_count=1)
    names = [f"s{i:02}" for i in range(40)]
    _sources(lab, names, files=3, extra={n: 'pre_backup_commands = ["sleep 0.5"]' for n in names},
             rabtui="max_parallel = 1000")

    def limited():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    done = subprocess.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "--all"],
                          capture_output=True, text=True, preexec_fn=limited, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "max_parallel is 1000, but the open-file limit (ulimit -n) of 256 leaves room for" in done.stdout
    rows = lab.store().all("SELECT status, COUNT(*) AS n FROM backups GROUP BY status")
    assert [(r["status"], r["n"]) for r in rows] == [("completed", 40)]


def test_two_sources_over_ssh_at_once(tmp_path, sshd, capsys):
    lab = Lab(tmp_path)
    lab.trust(sshd)
    text = ""
    for name in ("web", "db"):
        write_files(lab.src / name, {f"f{i}": f"{name}{i}" for i in range(30)} | {"d/x": name})
        text += ssh_source_lines(sshd, name) + f'[[sources.directories]]\npath = "{lab.src / name}"\n'
    lab.write(text)
    assert _run(lab, "backup", "web", "db") == 0
    store = lab.store()
    rows = store.all("SELECT * FROM backups ORDER BY source")
    assert [(r["source"], r["medium"], r["status"]) for r in rows] == [("db", "m1", "completed"),
                                                                       ("web", "m1", "completed")]
    for row in rows:
        assert _catalog(store, row["id"]) == _tree_files(lab.src / row["source"])
    _no_locked_anywhere(lab, store, *capsys.readouterr())


def test_a_new_medium_is_labelled_once_before_the_sources_start(tmp_path):
    lab = Lab(tmp_path)
    _sources(lab, [f"s{i}" for i in range(4)], files=5)
    assert _run(lab, "backup", "--all") == 0
    medium = lab.media[0][1]
    assert sorted(p.name for p in medium.iterdir()) == [".rabtui-medium", "s0", "s1", "s2", "s3"]


def test_displays_of_several_sources():
    import io

    stream = io.StringIO()
    plain = PlainDisplay(stream=stream, several=True)
    plain.emit_for("web")(Event(WARNING, "careful"))
    plain.emit_for(None)(Event(WARNING, "medium m1: empty, labelled now"))
    lines = [line.split(" ", 2)[2] for line in stream.getvalue().splitlines()]
    assert lines == ["web: warning: careful", "warning: medium m1: empty, labelled now"]
    assert isinstance(terminal_emit(tty=False, several=True), PlainDisplay)

    with RichSourcesDisplay() as rich:
        for sid in ("web", "db"):
            rich.emit_for(sid)(Event(STEP, "step 5/7 rsync: running", {"step": 5, "name": "rsync", "state": "running"}))
            rich.emit_for(sid)(Event(PROGRESS, data={"done_bytes": 10, "total_bytes": 100}))
        assert sorted(t.fields["what"] for t in rich.progress.tasks) == ["db", "web"]   # one live line each
        assert {t.fields["step"] for t in rich.progress.tasks} == {"5/7 rsync ..."}
        rich.emit_for("web")(Event(RESULT, "backup of web: completed", {"total_bytes": 1, "new_bytes": 1}))
        assert [t.fields["what"] for t in rich.progress.tasks] == ["db"]


def test_the_run_s_own_lines_are_shown_without_verbose_a_source_s_log_lines_with_it(capsys):
    """What `backup` of several sources deleted before them, or a wait for the medium's lock, is the
    run's own line (run-due says it always); each source's log lines wait for -v."""
    import io

    for verbose in (False, True):
        stream = io.StringIO()
        plain = PlainDisplay(stream=stream, several=True, verbose=verbose)
        plain.emit_for(None)(Event(LOG, "deleting b backup-1 on m1 (failed), frees 7 MiB"))
        plain.emit_for("web")(Event(LOG, "rsync: sent 10 bytes"))
        lines = [line.split(" ", 2)[2] for line in stream.getvalue().splitlines()]
        assert lines == ["deleting b backup-1 on m1 (failed), frees 7 MiB"] + (["web: rsync: sent 10 bytes"] if verbose else [])
    capsys.readouterr()
    with RichSourcesDisplay() as rich:
        rich.emit_for(None)(Event(LOG, "1 backup deleted, 7 MiB freed"))
        rich.emit_for("web")(Event(LOG, "rsync: sent 10 bytes"))
    out = capsys.readouterr().out
    assert "1 backup deleted, 7 MiB freed" in out and "rsync: sent" not in out, out


def test_live_lines_of_sources_with_long_ids_tell_them_apart():
    """Ids differ at their end as often as not (web-frankfurt-01, -02): a source's live line keeps
    the end of its id when the id is cut to fit."""
    ids = ["webserver-production-frankfurt-01", "webserver-production-frankfurt-02"]
    with RichSourcesDisplay() as rich:
        for sid in ids:
            rich.emit_for(sid)(Event(STEP, "step 5/7 rsync: running", {"step": 5, "name": "rsync", "state": "running"}))
        shown = [t.fields["what"] for t in rich.progress.tasks]
    assert len(set(shown)) == 2 and all(len(s) <= 20 for s in shown), shown
    assert [s[-2:] for s in shown] == ["01", "02"] and all(s.startswith("webserv") for s in shown), shown


def test_sigterm_cancels_the_backups_under_way_and_those_not_started(tmp_path):
    lab = Lab(tmp_path)
    seconds = f"{30 + time.time() % 1:.6f}"
    pre = f'pre_backup_commands = ["sleep {seconds}"]'
    _sources(lab, ["a", "b", "c"], files=3, extra={n: pre for n in "abc"}, rabtui="max_parallel = 2")
    child = _start_run(lab, "backup", "--all", running=2)
    store = lab.store()
    # the UI's view of the jobs: each source under way is a running job of its own
    from rabtui.actions import jobs as queries

    running = queries.poll_jobs(store).running
    assert sorted((j["kind"], j["target"], j["status"]) for j in running) == [
        ("backup", "a", "running"), ("backup", "b", "running"), ("backup", "c", "queued")]
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=30)
    assert child.returncode == 1, err
    jobs = {j["target"]: (j["status"], j["summary"]) for j in store.all("SELECT * FROM jobs")}
    assert sorted(s for s, _ in jobs.values()) == ["cancelled"] * 3, jobs
    assert "cancelled before it started" in [s for _, s in jobs.values()]
    assert b"cancelled before it started" in err
    left = subprocess.run(["pgrep", "-f", f"sleep {seconds}"], capture_output=True, text=True).stdout
    assert left == ""


def test_a_sigterm_the_kernel_hands_to_a_backup_s_thread_cancels_at_once(tmp_path):
    """The kernel hands a process's SIGTERM to any of its threads, and Python handles it in the main
    thread once that runs: while the main thread waited for the backups without a limit, one handed
    to a backup's thread went unheeded until a backup ended by itself (a pre-backup command of 30 s
    ran to its end). Real threads, a real signal to one of them."""
    import threading

    from rabtui.backup import batch
    from rabtui.cli.common import cancel_on_signals

    cancel = batch.RunCancel()
    under_way = threading.Barrier(3)
    workers: list[int] = []

    def work(item) -> bool:
        mine = threading.Event()
        with cancel.covering(mine):
            workers.append(threading.get_ident())
            under_way.wait()
            return mine.wait(30)

    def signal_a_worker() -> None:
        under_way.wait()
        signal.pthread_kill(workers[0], signal.SIGTERM)

    threading.Thread(target=signal_a_worker, daemon=True).start()
    began = time.monotonic()
    with cancel_on_signals(cancel):
        cancelled = batch.run_each(Lab(tmp_path).store(), ["a", "b"], work, 2)
    assert cancelled == [True, True]
    assert time.monotonic() - began < 10


def test_sources_waiting_for_their_turn_are_queued_jobs(tmp_path, capsys):
    """With max_parallel below the number of sources, the waiting ones are jobs from the start
    (`jobs list`, the TUI's poll), each taken over by its backup when its turn comes; one cancelled
    while it waits does not start when its turn comes."""
    from rabtui.actions import jobs as queries

    lab = Lab(tmp_path)
    go = tmp_path / "go-on"     # the first backup waits in its pre-command until all is looked at
    _sources(lab, ["a", "b", "c"], files=3, extra={n: f'pre_backup_commands = ["{gate_command(go)}"]' for n in "abc"},
             rabtui="max_parallel = 1")
    child = _start_run(lab, "backup", "--all")
    try:
        live = queries.poll_jobs(lab.store()).running
        seen = {j["target"]: j["status"] for j in live}
        assert sorted(seen.values()) == ["queued", "queued", "running"], seen
        assert _run(lab, "jobs", "list") == 0
        listed = capsys.readouterr().out
        assert sum(" queued " in line and "backup of" in line for line in listed.splitlines()) == 2, listed
        waiting = next(j for j in live if j["status"] == "queued")
        assert _run(lab, "jobs", "cancel", str(waiting["id"])) == 0
    finally:
        go.touch()
    out, err = child.communicate(timeout=60)
    assert child.returncode == 1, err
    jobs = {j["target"]: (j["status"], j["exit_code"], j["summary"])
            for j in lab.store().all("SELECT target, status, exit_code, summary FROM jobs")}
    assert jobs.pop(waiting["target"]) == ("cancelled", 1, "cancelled before it started")
    assert sorted(jobs.values()) == [("completed", 0, "completed")] * 2
    assert lab.store().one("SELECT COUNT(*) FROM backups WHERE source=?", (waiting["target"],))[0] == 0


def test_a_medium_that_cannot_be_mounted_fails_each_source_in_its_own_job(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    _sources(lab, ["a", "b", "c"], files=3)
    medium_path = f'path = "{lab.media[0][1]}"\n'
    lab.config_path.write_text(lab.config_path.read_text().replace(
        medium_path, medium_path + f'device = "{tmp_path / "no-such-device"}"\n', 1))
    assert _run(lab, "backup", "--all") == 1
    out = capsys.readouterr().out
    assert f"warning: medium m1: cannot mount {tmp_path / 'no-such-device'}" in out
    store = lab.store()
    jobs = store.all("SELECT target, status FROM jobs ORDER BY target")
    assert [(j["target"], j["status"]) for j in jobs] == [("a", "failed"), ("b", "failed"), ("c", "failed")]
    for name in "abc":
        assert f" {name}: error: backup of {name} failed: medium m1: cannot mount" in out


def test_a_backup_started_while_another_runs_joins_its_medium(tmp_path):
    """A second run (the command line, like the UI's) goes to the medium the running backups write
    to, not to the next one of the rotation: one day's backups stay on one medium."""
    lab = Lab(tmp_path)
    go = tmp_path / "a-goes-on"     # a waits in its pre-command until b's second backup has ended
    _sources(lab, ["a", "b"], files=3, extra={"a": f'pre_backup_commands = ["{gate_command(go)}"]'})
    assert _run(lab, "backup", "b", "--medium", "m2") == 0     # the last backup on m2: m1 comes next
    child = _start_run(lab, "backup", "a")
    try:
        assert _run(lab, "backup", "b") == 0
    finally:
        go.touch()
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    media = {r["source"]: r["medium"] for r in lab.store().all(
        "SELECT source, medium FROM backups WHERE id IN (SELECT MAX(id) FROM backups GROUP BY source)")}
    assert media == {"a": "m1", "b": "m1"}


def test_a_run_that_begins_while_another_picks_its_medium_shares_it(tmp_path, monkeypatch):
    """Two runs started at the same moment (run-due and a `backup --all`) took two media: the
    second read the jobs under way before the first had a backup row, and the rotation after the
    first had checked its medium."""
    from rabtui.actions import backup as backup_actions
    from rabtui.state import jobs

    lab = Lab(tmp_path)
    go = tmp_path / "a-goes-on"     # a waits in its pre-command until the medium is picked
    _sources(lab, ["a", "b"], files=3, extra={"a": f'pre_backup_commands = ["{gate_command(go)}"]'})
    assert _run(lab, "backup", "b", "--medium", "m2") == 0     # the last backup on m2: m1 comes next
    child = None
    read_jobs = jobs.running_jobs

    def then_a_run_begins(st):
        nonlocal child
        rows = read_jobs(st)
        if child is None:
            child = _start_run(lab, "backup", "a")     # on m1, which it has checked by now
        return rows

    monkeypatch.setattr(jobs, "running_jobs", then_a_run_begins)
    try:
        assert backup_actions.day_medium(lab.load(), lab.store()).id == "m1"
    finally:
        go.touch()
        if child is not None:
            child.communicate(timeout=60)
    assert lab.store().one("SELECT medium FROM backups WHERE source='a'")["medium"] == "m1"


def test_the_sources_waiting_their_turn_name_the_run_s_medium(tmp_path):
    """While a run's sources wait their turn (between one source's end and the next one's start),
    a backup started meanwhile still finds the run's medium, not the next one of the rotation."""
    from rabtui.actions import backup as backup_actions
    from rabtui.backup import batch

    lab = Lab(tmp_path)
    _sources(lab, ["a", "b"], files=3)
    assert _run(lab, "backup", "a", "--medium", "m1") == 0     # the next of the rotation is m2 now
    cfg, store = lab.load(), lab.store()
    seen = batch.run_queued(store, cfg.medium("m1"), ["a", "b"], lambda sid: (sid, f"backup of {sid}"),
                            lambda sid, job: backup_actions.day_medium(cfg, store).id, 1)
    assert seen == ["m1", "m1"]


def test_a_killed_run_leaves_its_running_jobs_dead_and_its_waiting_ones_not_started(tmp_path, capsys):
    """SIGKILL, with one source running and two waiting: the running job died (one alarm of
    `check`); the waiting ones never ran, and say so without an alarm each. The next run backs up all."""
    lab = Lab(tmp_path)
    seconds = f"{30 + time.time() % 1:.6f}"
    _sources(lab, ["a", "b", "c"], files=3, extra={"a": f'pre_backup_commands = ["sleep {seconds}"]'},
             rabtui="max_parallel = 1")
    child = _start_run(lab, "backup", "--all")
    child.kill()
    child.communicate(timeout=30)
    subprocess.run(["pkill", "-KILL", "-f", f"^sleep {seconds}$"])     # the pre-command is its own group
    assert _run(lab, "jobs", "list") == 0
    jobs = {j["target"]: (j["status"], j["summary"]) for j in lab.store().all("SELECT * FROM jobs")}
    assert jobs == {"a": ("dead", None), "b": ("cancelled", "not started"), "c": ("cancelled", "not started")}, jobs
    capsys.readouterr()
    _run(lab, "check")
    out = capsys.readouterr().out
    assert sum("died (pid" in line for line in out.splitlines()) == 1, out
    lab.config_path.write_text(lab.config_path.read_text().replace(f'pre_backup_commands = ["sleep {seconds}"]', ""))
    assert _run(lab, "backup", "--all") == 0
    capsys.readouterr()
    # the next run's backup of `a` ran to its end: the alarm is over, not kept for 2 days
    _run(lab, "check")
    assert "died" not in capsys.readouterr().out


@pytest.mark.parametrize("shift", [-3600, 3600])
def test_a_killed_run_s_job_is_dead_when_another_process_has_its_pid_since(tmp_path, capsys, shift):
    """A run killed (a power cut) an hour ago; since the reboot, another process has its pid. The
    job was shown running as long as that process lived: `check` did not say it died, and every
    backup went to its medium (the one "under way") instead of the next of the rotation. So too
    where the run was killed under a clock an hour ahead (`shift` 3600: the clock was put back
    since, and the process holding the pid now seems to have begun before the run's last heartbeat)."""
    lab = Lab(tmp_path)
    seconds = f"{30 + time.time() % 1:.6f}"
    _sources(lab, ["a"], files=3, extra={"a": f'pre_backup_commands = ["sleep {seconds}"]'})
    child = _start_run(lab, "backup", "a")
    child.kill()
    child.communicate(timeout=30)
    subprocess.run(["pkill", "-KILL", "-f", f"^sleep {seconds}$"])     # the pre-command is its own group
    other = subprocess.Popen(["sleep", "60"])
    try:
        store = lab.store()
        store.execute("UPDATE jobs SET pid=?, started=started+?, heartbeat=heartbeat+?", (other.pid, shift, shift))
        assert _run(lab, "jobs", "list") == 0
        assert [(j["target"], j["status"]) for j in store.all("SELECT * FROM jobs")] == [("a", "dead")]
        capsys.readouterr()
        _run(lab, "check")
        assert "job 1 (backup of a) died" in capsys.readouterr().out
        lab.config_path.write_text(lab.config_path.read_text().replace(f'pre_backup_commands = ["sleep {seconds}"]', ""))
        assert _run(lab, "backup", "a") == 0
        assert store.one("SELECT medium FROM backups ORDER BY id DESC LIMIT 1")["medium"] == "m2"
    finally:
        other.kill()
        other.wait()


def test_a_killed_run_due_leaves_the_slot_of_its_running_source_due(tmp_path, capsys):
    """SIGKILL while a scheduled backup runs: the slot was not done, so the next run-due backs that
    source up again (it used to wait for the next scheduled time); meanwhile `status` does not show
    the killed backup as running."""
    lab = Lab(tmp_path)
    seconds = f"{30 + time.time() % 1:.6f}"
    pre = f'pre_backup_commands = ["sleep {seconds}"]'
    _sources(lab, ["a", "b"], files=3, extra={"a": f'schedule = "0 2 * * *"\n{pre}', "b": 'schedule = "0 2 * * *"'},
             rabtui="max_parallel = 1")
    child = _start_run(lab, "run-due", "--now", "2026-10-01T03:00")
    child.kill()
    child.communicate(timeout=30)
    subprocess.run(["pkill", "-KILL", "-f", f"^sleep {seconds}$"])     # the pre-command is its own group
    capsys.readouterr()
    assert _run(lab, "status") == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("  a "))
    assert line.startswith("  a (local): interrupted ") and "[running]" not in line, out
    assert "the next backup of a recovers it" in line
    assert _run(lab, "status", "--json") == 0
    assert '"status": "interrupted"' in capsys.readouterr().out

    lab.config_path.write_text(lab.config_path.read_text().replace(pre, ""))
    assert _run(lab, "run-due", "--now", "2026-10-01T03:15") == 0
    out = capsys.readouterr().out
    assert "a: due (schedule time 2026-10-01 02:00)" in out and "b: due (schedule time 2026-10-01 02:00)" in out
    rows = lab.store().all("SELECT source, status FROM backups ORDER BY id")
    assert [(r["source"], r["status"]) for r in rows] == [("a", "abandoned"), ("a", "completed"), ("b", "completed")]
    # done now: the same slot is not run a third time
    assert _run(lab, "run-due", "--now", "2026-10-01T03:30") == 0
    assert "due (schedule time" not in capsys.readouterr().out


def test_run_due_leaves_a_source_whose_backup_is_under_way(tmp_path, capsys):
    """A second run-due while the first one's backup of a source runs: no job of its own, no error,
    and the slot is still done once (by the first)."""
    lab = Lab(tmp_path)
    go = tmp_path / "a-goes-on"     # a waits in its pre-command until the second run-due has ended
    _sources(lab, ["a"], files=3,
             extra={"a": f'schedule = "0 2 * * *"\npre_backup_commands = ["{gate_command(go)}"]'})
    child = _start_run(lab, "run-due", "--now", "2026-10-01T03:00")
    capsys.readouterr()
    try:
        assert _run(lab, "run-due", "--now", "2026-10-01T03:00") == 0
    finally:
        go.touch()
    captured = capsys.readouterr()
    assert "a: due (schedule time 2026-10-01 02:00), and a backup of it is under way" in captured.out
    assert captured.err == ""
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert [(j["target"], j["status"]) for j in lab.store().all("SELECT * FROM jobs")] == [("a", "completed")]
    assert _run(lab, "run-due", "--now", "2026-10-01T03:15") == 0
    assert "due (schedule time" not in capsys.readouterr().out


def test_two_run_dues_that_overlap_back_up_a_slot_once(tmp_path, capsys):
    """run-due A backs up slow t while s waits its turn; run-due B, started meanwhile for the same
    slot, backs s up (its lock is free). When s's turn comes in A, the slot is done: no second backup."""
    lab = Lab(tmp_path)
    go = tmp_path / "t-goes-on"     # t waits in its pre-command until B has ended
    _sources(lab, ["t", "s"], files=3,
             extra={"t": f'schedule = "0 2 * * *"\npre_backup_commands = ["{gate_command(go)}"]', "s": 'schedule = "0 2 * * *"'},
             rabtui="max_parallel = 1")
    child = _start_run(lab, "run-due", "--now", "2026-10-01T03:00")      # t is in its pre-command
    capsys.readouterr()
    try:
        assert _run(lab, "run-due", "--now", "2026-10-01T03:05") == 0
    finally:
        go.touch()
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert b"s: backed up meanwhile by another run-due for this schedule time" in out
    rows = lab.store().all("SELECT source, status FROM backups ORDER BY id")
    assert sorted((r["source"], r["status"]) for r in rows) == [("s", "completed"), ("t", "completed")]


def test_a_run_due_whose_source_began_in_another_meanwhile_says_so_without_an_error(tmp_path, capsys):
    """run-due A backs up t while s waits its turn; run-due B, started meanwhile, backs s up. When
    s's turn comes in A, its backup in B still runs: A leaves it, as it leaves one found under way
    when it starts, in a line of its report; it wrote an error to stderr (a mail from cron), for
    a run that did all it should and exited 0."""
    lab = Lab(tmp_path)
    # each pre-command holds its backup until the test opens its gate (at most 60 s), however slow
    # the machine: with fixed sleeps, B could reach s's pre-command only after t's had ended
    go, left = tmp_path / "t-goes-on", tmp_path / "a-ended"
    _sources(lab, ["t", "s"], files=3,
             extra={"t": f'schedule = "0 2 * * *"\npre_backup_commands = ["{gate_command(go)}"]',
                    "s": f'schedule = "0 2 * * *"\npre_backup_commands = ["{gate_command(left)}"]'},
             rabtui="max_parallel = 1")
    first = _start_run(lab, "run-due", "--now", "2026-10-01T03:00")                 # t is in its pre-command
    try:
        second = _start_run(lab, "run-due", "--now", "2026-10-01T03:00", running=2)     # and s too, in B
        go.touch()
        out, err = first.communicate(timeout=60)
    finally:
        go.touch()
        left.touch()
    assert first.returncode == 0, err
    assert err == b"", err
    assert b"s: due, and a backup of it began meanwhile: left to the next run-due" in out, out
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    rows = lab.store().all("SELECT source, status FROM backups ORDER BY id")
    assert sorted((r["source"], r["status"]) for r in rows) == [("s", "completed"), ("t", "completed")]


def test_a_slot_marked_by_a_later_run_due_stays_marked(tmp_path, capsys):
    """Hourly: A works on the 01:00 slot while B does 02:00 for s; A's mark of the older slot,
    written last, does not make 02:00 due again."""
    from datetime import datetime

    lab = Lab(tmp_path)
    go = tmp_path / "t-goes-on"     # t waits in its pre-command (in A) until B has ended
    _sources(lab, ["t", "s"], files=3,
             extra={"t": f'schedule = "0 * * * *"\npre_backup_commands = ["{gate_command(go)}"]',
                    "s": 'schedule = "0 * * * *"'},
             rabtui="max_parallel = 1")
    child = _start_run(lab, "run-due", "--now", "2026-10-01T01:05")
    capsys.readouterr()
    try:
        assert _run(lab, "run-due", "--now", "2026-10-01T02:05") == 0
    finally:
        go.touch()
    child.communicate(timeout=60)
    last = lab.store().one("SELECT last_due FROM schedule_runs WHERE source='s'")["last_due"]
    assert datetime.fromtimestamp(last) == datetime(2026, 10, 1, 2, 0)
    capsys.readouterr()
    assert _run(lab, "run-due", "--now", "2026-10-01T02:10") == 0
    assert "s: due" not in capsys.readouterr().out


def _shared_logins(pid: int) -> list[int]:
    """The ssh processes holding a shared connection (ControlMaster) of the rabtui of `pid`: their
    sockets are in its own temporary directories."""
    mark = f"{os.sep}rabtui-{pid}-".encode()
    return [p for p, argv in processes() if os.path.basename(argv[0]) == b"ssh"
            and b"ControlMaster=yes" in argv and any(mark in a for a in argv)]


def _killed_then_nothing_outlives_it(child: subprocess.Popen, lab: Lab, tmp_path) -> None:
    """SIGKILL the run: no rsync of it, nor its shared SSH connections (gone to the background, which
    would stay while idle for SHARED_IDLE_SECONDS), are left within a minute, and the next run, at full
    speed, completes."""
    child.kill()
    child.communicate(timeout=30)

    def left() -> list[int]:
        return _rsync_pids(str(tmp_path)) + _shared_logins(child.pid)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # none, and none a second later: a session the source's sshd was starting as rsync died runs
        # its listing (an rsync of the source's paths, which writes nothing into the backup) yet
        if not left():
            time.sleep(1)
            if not left():
                break
        time.sleep(0.1)
    assert _rsync_pids(str(tmp_path)) == []
    assert _shared_logins(child.pid) == []
    lab.config_path.write_text(lab.config_path.read_text().replace('bwlimit = "100K"', ""))
    assert _run(lab, "backup", "--all") == 0


def test_a_backup_that_begins_while_status_reads_is_not_interrupted(tmp_path, monkeypatch):
    """status (as the dashboard reads it, without the lock test) reads the jobs under way, then each
    source's last backup: one that begins between the two reads is running, not interrupted."""
    from rabtui.actions import jobs as jobviews
    from rabtui.actions import status

    lab = Lab(tmp_path)
    go = tmp_path / "a-goes-on"     # a waits in its pre-command until status has read it
    _sources(lab, ["a"], files=3, extra={"a": f'pre_backup_commands = ["{gate_command(go)}"]'})
    store = lab.store()
    child = None
    read_jobs = jobviews.running

    def then_a_backup_begins(st):
        nonlocal child
        rows = read_jobs(st)
        if child is None:
            child = _start_run(lab, "backup", "a")
        return rows

    monkeypatch.setattr(jobviews, "running", then_a_backup_begins)
    try:
        (a,) = status.sources(lab.load(), store)
        assert child.poll() is None
        assert (a.status, a.running) == ("running", True)
    finally:
        go.touch()
        if child is not None:
            child.communicate(timeout=60)


def test_a_sigkill_takes_the_rsyncs_under_way_with_it(tmp_path):
    """rsync runs in a session of its own (so that a cancel can kill its whole group); killed with
    rabtui all the same (its parent-death signal), it does not go on writing into a backup that the
    next run throws away. That run then completes."""
    lab = Lab(tmp_path, media_count=1)
    _sources(lab, ["a", "b"], files=3, extra={n: 'bwlimit = "100K"' for n in "ab"})
    for n in "ab":
        write_files(lab.src / n, {"big": 3_000_000})
    child = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "--all"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    medium = lab.media[0][1]
    deadline = time.monotonic() + 60      # both transfers under way (rsync's listings of the sources come and go)
    while len(list(medium.glob("*/backup-*/data/**/.big.*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(list(medium.glob("*/backup-*/data/**/.big.*"))) == 2, "the two rsyncs never began their big file"
    _killed_then_nothing_outlives_it(child, lab, tmp_path)


def test_a_sigkill_takes_the_rsyncs_of_sources_over_ssh_with_it(tmp_path, sshd):
    """Over SSH, rsync forks a receiver, which the parent-death signal of the rsync rabtui started
    does not reach: it went on writing into the killed backup, its ssh and the source's rsync with
    it, until the next run stopped it. The whole of each rsync's group dies with rabtui now."""
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    text = ""
    for name in ("a", "b"):
        write_files(lab.src / name, {"big": os.urandom(3_000_000)})
        text += ssh_source_lines(sshd, name) + f'bwlimit = "100K"\n[[sources.directories]]\npath = "{lab.src / name}"\n'
    lab.write(text)
    child = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "--all"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    medium = lab.media[0][1]
    deadline = time.monotonic() + 60
    while len(list(medium.glob("*/backup-*/data/**/.big.*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(list(medium.glob("*/backup-*/data/**/.big.*"))) == 2, "the two rsyncs never began their big file"
    _killed_then_nothing_outlives_it(child, lab, tmp_path)


def test_the_run_after_a_sigkill_stops_an_rsync_that_outlived_it_behind_a_wrapper(tmp_path, capsys):
    """A wrapper that runs rsync in a session of its own and waits (as sudo does with use_pty)
    takes it out of the group that dies with rabtui: rsync outlives rabtui. The next run,
    recovering the killed backup, stops it before it deletes the partial directory, and says so."""
    lab = Lab(tmp_path, media_count=1)
    wrapper = 'rsync_path = "sh -c \'setsid -w \\"$@\\"; exit $?\' sh rsync"'   # TOML: the quotes inside escaped
    _sources(lab, ["a"], files=3, extra={"a": f'bwlimit = "100K"\n{wrapper}'})
    write_files(lab.src / "a", {"big": 3_000_000})
    child = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "a"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # killed while rsync copies the big file (nothing to print until it is done)
    medium = lab.media[0][1]
    deadline = time.monotonic() + 60
    while not list(medium.glob("a/backup-*/data/**/.big.*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(medium.glob("a/backup-*/data/**/.big.*")), "rsync never began the big file"
    child.kill()
    child.communicate(timeout=30)
    time.sleep(0.5)
    killed = lab.store().one("SELECT path FROM backups")["path"]
    outlived = _rsync_pids(killed)
    assert outlived, "the wrapper's rsync died with rabtui: nothing to show"

    lab.config_path.write_text(lab.config_path.read_text().replace('bwlimit = "100K"', ""))
    assert _run(lab, "backup", "a") == 0
    out = capsys.readouterr()
    assert "of its rsync processes still writing into it stopped" in out.out + out.err
    assert _rsync_pids(killed) == [] and not os.path.exists(killed)


@pytest.mark.parametrize("argv, merged", [(["backup", "--all"], False), (["backup", "--all"], True),
                                          (["run-due", "--now", "2026-10-01T03:00"], False),
                                          (["run-due", "--now", "2026-10-01T03:00"], True)])
def test_output_whose_reader_went_away_takes_no_backup_with_it(tmp_path, argv, merged):
    """`rabtui backup --all | head -1`: the reader of the output is gone after one line. The backups
    went on writing their lines into the closed pipe, and each failed with "Broken pipe", while the
    run said 0. Now they go on without their display, and the exit code is still the worst."""
    lab = Lab(tmp_path)
    slow = 'schedule = "0 2 * * *"\npre_backup_commands = ["sleep 1"]'
    _sources(lab, ["a", "b", "bad"], files=3,
             extra={"a": slow, "b": slow, "bad": 'schedule = "0 2 * * *"\npre_backup_commands = ["exit 4"]'})
    child = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merged else subprocess.PIPE)
    child.stdout.readline()
    child.stdout.close()        # `2>&1 | head -1` when merged
    err = "" if merged else child.stderr.read().decode()
    assert child.wait(timeout=60) == 1, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    rows = {r["source"]: r["status"] for r in lab.store().all("SELECT source, status FROM backups")}
    assert rows == {"a": "completed", "b": "completed", "bad": "failed"}, (rows, err)


@pytest.mark.parametrize("names", [["a"], ["a", "b"]])
def test_a_terminal_hung_up_cancels_the_backups_and_their_post_commands_run(tmp_path, names):
    """The SSH connection of the operator's terminal is lost while two backups copy: the hangup
    cancels them. Their display then wrote into the hung-up terminal, and each backup failed with
    "Input/output error", one of them before its post-backup commands (which undo the pre-backup
    ones) ran. Now the display goes, and the backups end cancelled, each after its post commands."""
    import pty
    import select

    lab = Lab(tmp_path, media_count=1)
    post = 'bwlimit = "100K"\npre_backup_commands = ["true"]\npost_backup_commands = ["touch {}"]'
    _sources(lab, names, files=3, extra={n: post.format(tmp_path / f"post-{n}") for n in names})
    for n in names:
        write_files(lab.src / n, {"big": 3_000_000})
    pid, terminal = pty.fork()
    if pid == 0:      # the child: rabtui on the terminal, its session's leader
        os.execv(sys.executable, [sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", *names])
    medium = lab.media[0][1]
    deadline = time.monotonic() + 60
    while len(list(medium.glob("*/backup-*/data/**/.big.*"))) < len(names) and time.monotonic() < deadline:
        if select.select([terminal], [], [], 0.1)[0]:
            os.read(terminal, 65536)
    assert len(list(medium.glob("*/backup-*/data/**/.big.*"))) == len(names), "the rsyncs never began their big file"
    os.close(terminal)       # the hangup
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1
    jobs = {j["target"]: (j["status"], j["summary"]) for j in lab.store().all("SELECT * FROM jobs")}
    assert sorted(jobs) == names and all(s == "cancelled" for s, _ in jobs.values()), jobs
    assert not any("Input/output error" in (summary or "") for _, summary in jobs.values()), jobs
    assert all((tmp_path / f"post-{n}").exists() for n in names)


def test_a_second_ctrl_c_interrupts_several_sources_at_once(tmp_path):
    """The first Ctrl-C cancels; the post-backup commands run all the same, to undo the pre-backup
    ones; "Ctrl-C again to interrupt at once" stops them. With several sources it waited for them
    all to end (up to command_timeout); now rabtui ends at once, and they die with it."""
    lab = Lab(tmp_path, media_count=1)
    seconds = f"{30 + time.time() % 1:.6f}"
    keys = f'bwlimit = "100K"\npre_backup_commands = ["true"]\npost_backup_commands = ["sleep {seconds}"]'
    _sources(lab, ["a", "b"], files=3, extra={n: keys for n in "ab"})
    for n in "ab":
        write_files(lab.src / n, {"big": 3_000_000})
    child = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "a", "b"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    medium = lab.media[0][1]
    deadline = time.monotonic() + 60
    while len(list(medium.glob("*/backup-*/data/**/.big.*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(list(medium.glob("*/backup-*/data/**/.big.*"))) == 2, "the two rsyncs never began their big file"
    os.killpg(child.pid, signal.SIGINT)        # Ctrl-C reaches the terminal's whole process group
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and \
            len(subprocess.run(["pgrep", "-f", f"^sleep {seconds}$"], capture_output=True).stdout.split()) < 2:
        time.sleep(0.1)
    os.killpg(child.pid, signal.SIGINT)
    try:
        out, err = child.communicate(timeout=10)
    finally:
        child.kill()
    assert child.returncode == 130, err
    assert b"rabtui: interrupted" in err
    deadline = time.monotonic() + 60
    while subprocess.run(["pgrep", "-f", f"^sleep {seconds}$"], capture_output=True).stdout and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    assert subprocess.run(["pgrep", "-f", f"^sleep {seconds}$"], capture_output=True).stdout == b""
    jobs = {j["target"]: (j["status"], j["summary"]) for j in lab.store().all("SELECT target, status, summary FROM jobs")}
    assert jobs == {n: ("cancelled", INTERRUPTED) for n in "ab"}, jobs


def test_a_second_ctrl_c_records_one_sources_job_interrupted(tmp_path):
    """One source, its post-backup command running on after a Ctrl-C; the second Ctrl-C ends rabtui:
    its job was recorded `failed: KeyboardInterrupt: `."""
    lab = Lab(tmp_path, media_count=1)
    posting, err_file = tmp_path / "posting", tmp_path / "err"
    _sources(lab, ["a"], files=1, extra={"a": f'post_backup_commands = ["touch {posting}; sleep 30"]'})
    with open(err_file, "wb") as err:
        child = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "a"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not posting.exists():
            assert child.poll() is None and time.monotonic() < deadline, err_file.read_text()
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        while b"Ctrl-C again" not in err_file.read_bytes():
            assert child.poll() is None and time.monotonic() < deadline, err_file.read_text()
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=30) == 130, err_file.read_text()
    finally:
        child.kill()
        child.wait()
    rows = lab.store().all("SELECT status, summary FROM jobs")
    assert [tuple(r) for r in rows] == [("cancelled", INTERRUPTED)], err_file.read_text()


@pytest.mark.parametrize("max_parallel", [1, 2])
def test_a_fault_in_one_sources_backup_fails_that_source_alone(tmp_path, monkeypatch, capsys, max_parallel):
    """An exception no step turned into a message (a fault of rabtui's) in one source's backup:
    that backup fails, with its traceback in its job's log and a notification, and the night goes
    on (one after another it stopped every source after it; at once it lost the others' report)."""
    from rabtui.actions import backup as backup_actions

    lab = Lab(tmp_path, media_count=1)
    _sources(lab, ["a", "b", "c"], files=5, rabtui=f"max_parallel = {max_parallel}")
    real = backup_actions.run_backup

    def faulty(cfg, store, source_id, **kw):
        if source_id == "b":
            raise RuntimeError("boom")
        return real(cfg, store, source_id, **kw)

    monkeypatch.setattr(backup_actions, "run_backup", faulty)
    assert _run(lab, "backup", "--all") == 1
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    assert "internal error: RuntimeError: boom" in out.err + out.out
    store = lab.store()
    done = {r["source"]: r["status"] for r in store.all("SELECT source, status FROM backups")}
    assert done == {"a": "completed", "c": "completed"}
    job = store.one("SELECT id, status, summary FROM jobs WHERE target='b'")
    assert job["status"] == "failed" and "internal error: RuntimeError: boom" in job["summary"]
    logged = [r["message"] for r in store.all("SELECT message FROM events WHERE job_id=?", (job["id"],))]
    assert any("Traceback" in m and "RuntimeError: boom" in m for m in logged)
