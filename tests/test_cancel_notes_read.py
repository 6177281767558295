"""The notes of the console's cancels (STATE_DIR/logs/tui-cancels) as a hostile machine leaves
them: a FIFO or a note naming a job past the database's range among them, a note whose write
failed (the state directory full). The next console reads the rest and says theirs."""

from __future__ import annotations

import json
import os
import resource
import signal
import threading

from rabtui.actions import cancel_notes
from rabtui.state.jobs import JobRecorder
from rabtui.state.store import Store
from tests.test_restore_killed_leftovers import _dead_pid


def _note(folder, name: str, job_id: int, pid: int) -> None:
    (folder / name).write_text(json.dumps({"job": job_id, "post_commands_too": False, "pid": pid,
                                           "identity": None}))


def _left(state, store) -> list:
    """left_unwritten, given a minute (a FIFO opened to read waits for a writer for good: one is opened
    then; a loaded machine may take seconds to read the notes)."""
    found: list = []
    reader = threading.Thread(target=lambda: found.append(cancel_notes.left_unwritten(state, store)), daemon=True)
    reader.start()
    reader.join(60)
    hung = reader.is_alive()
    if hung:    # the reader freed, the FIFO given a writer that goes at once
        for fifo in (state / "logs" / "tui-cancels").glob("*.json"):
            if not fifo.is_file():
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(5)
    assert not hung, "left_unwritten waited on a FIFO"
    assert found, "left_unwritten raised"
    return found[0]


def test_a_fifo_or_an_id_out_of_range_among_the_notes_keeps_none_of_the_rest_unsaid(tmp_path):
    state = tmp_path / "state"
    store = Store(state)
    going_on = JobRecorder(store, "backup", "box", "backup box")
    folder = state / "logs" / "tui-cancels"
    folder.mkdir(parents=True)
    dead = _dead_pid()
    os.mkfifo(folder / "1-0.json")                  # read first: sorted before the others
    _note(folder, "2-0.json", 2**64, dead)         # no job the database can hold
    _note(folder, "2-1.json", going_on.job_id, 2**62)     # no pid a process can have
    (folder / f"{2**40}-0.json").write_bytes(b"")          # half a note, of no pid either
    _note(folder, "3-0.json", going_on.job_id, dead)
    try:
        assert _left(state, store) == [(going_on.job_id, False, dead, False)]
        assert not (folder / "3-0.json").exists()
    finally:
        going_on.finish("completed", 0)
        store.close()


def test_a_note_whose_write_fails_is_not_left_behind(tmp_path):
    state = tmp_path / "state"
    (state / "logs" / "tui-cancels").mkdir(parents=True)
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    xfsz = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1, limits[1]))   # each write past 1 byte fails: EFBIG
    try:
        note = cancel_notes.noted(state, 7, False, 0)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, xfsz)
    assert note is None
    assert list((state / "logs" / "tui-cancels").iterdir()) == [], "a note half written left to be read"


def test_a_note_left_half_written_by_a_killed_console_is_said_once_and_a_live_console_s_kept(tmp_path):
    """A console killed as it wrote the note of a cancel (noted before it is written) lost that
    cancel: said once, as of a job not known (the note was warned of at each start, for ever); the
    notes of a console that still runs are its own to remove, its identity unread or not."""
    state = tmp_path / "state"
    store = Store(state)
    going_on = JobRecorder(store, "backup", "box", "backup box")
    folder = state / "logs" / "tui-cancels"
    folder.mkdir(parents=True)
    dead, me = _dead_pid(), os.getpid()
    (folder / f"{dead}-0.json").write_bytes(b'{"job": 3, "post_comm')
    (folder / f"{dead}-1.json").write_bytes(b"")
    (folder / f"{me}-0.json").write_bytes(b"")                # this process writing it now
    _note(folder, f"{me}-1.json", going_on.job_id, me)       # its identity not read as it was noted
    try:
        assert _left(state, store) == [(None, False, dead, False)] * 2
        assert sorted(p.name for p in folder.iterdir()) == [f"{me}-0.json", f"{me}-1.json"]
        assert _left(state, store) == []
    finally:
        going_on.finish("completed", 0)
        store.close()


def test_a_console_given_the_pid_of_a_killed_one_keeps_its_notes(tmp_path):
    """A note left by a killed console whose pid this one holds now (not read yet: the database was
    busy for the reader) was written over by this console's first cancel, that cancel lost unsaid."""
    state = tmp_path / "state"
    folder = state / "logs" / "tui-cancels"
    folder.mkdir(parents=True)
    left = json.dumps({"job": 5, "post_commands_too": False, "pid": os.getpid(), "identity": "another-boot:7"})
    (folder / f"{os.getpid()}-0.json").write_text(left)
    note = cancel_notes.noted(state, 6, False, 0)
    assert note is not None and json.loads(note.read_text())["job"] == 6
    assert (folder / f"{os.getpid()}-0.json").read_text() == left
    cancel_notes.ended(note)
    assert [p.name for p in folder.iterdir()] == [f"{os.getpid()}-0.json"]


def test_two_consoles_starting_together_say_a_note_once(tmp_path, monkeypatch):
    """Two consoles started at once both read the note a killed one left: the one that removes it
    says it (both said it, and the second's removal failed, warned)."""
    state = tmp_path / "state"
    store = Store(state)
    going_on = JobRecorder(store, "backup", "box", "backup box")
    folder = state / "logs" / "tui-cancels"
    folder.mkdir(parents=True)
    _note(folder, "1-0-1.json", going_on.job_id, _dead_pid())
    real = cancel_notes.queries.job

    def the_other_console_first(store, job_id):     # it read the note too, and removed it as it said it
        (folder / "1-0-1.json").unlink()
        return real(store, job_id)

    monkeypatch.setattr(cancel_notes.queries, "job", the_other_console_first)
    try:
        assert _left(state, store) == []
    finally:
        going_on.finish("completed", 0)
        store.close()
