"""A cancel confirmed in a console killed before it was written (the database busy, then SIGKILL or
the terminal closed) was lost unsaid: the console notes each cancel as it writes it, and the next
console says those a console that ended left unwritten, where the job still goes on unstopped."""

from __future__ import annotations

import json
import os

from rabtui import proc_table
from rabtui.state.jobs import JobRecorder
from rabtui.state.store import Store
from rabtui.tui.app import make_app
from tests.test_restore_killed_leftovers import _dead_pid
from tests.tui.conftest import run, wait_for


def leave_note(state, name: str, job_id: int, pid: int, post: bool = False) -> None:
    """A note as a console that wrote it leaves it (its identity: `pid`'s, None for one that is gone)."""
    folder = state / "logs" / "tui-cancels"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps({"job": job_id, "post_commands_too": post, "pid": pid,
                                                     "identity": proc_table.identity(pid)}))


def test_the_next_console_says_the_cancels_a_killed_one_left_unwritten(medium_m_config, tmp_path):
    config = medium_m_config(f'[[sources]]\nid = "box"\n[[sources.directories]]\npath = "{tmp_path}/src"\n')
    state = tmp_path / "state"
    store = Store(state)
    going_on, stopped, post = (JobRecorder(store, "backup", "box", "backup box") for _ in range(3))
    store.execute("UPDATE jobs SET cancel_requested=1 WHERE id IN (?, ?)", (stopped.job_id, post.job_id))
    dead = _dead_pid()
    leave_note(state, "a", going_on.job_id, dead)
    leave_note(state, "b", stopped.job_id, dead)               # written before the kill: nothing to say
    leave_note(state, "c", post.job_id, dead, post=True)      # its post-backup commands' stop, not written
    leave_note(state, "d", going_on.job_id, os.getpid())      # of a console that still runs: its own to say
    (state / "logs" / "tui-cancels" / f"{dead}-0.json").write_bytes(b'{"job": ')   # killed as it noted it
    app = make_app(config, poll_interval=0.2)

    def notes() -> list[str]:
        return [n.message for n in app._notifications]

    async def go():
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: len(notes()) >= 3 and not [w for w in app.workers
                                                                      if w.group == "cancel-notes"], what=notes)

    run(go())
    why = f"confirmed in a console that ended before it was written, pid {dead}"
    assert sorted(notes()) == sorted([
        f"the cancel of job {going_on.job_id} was not written ({why}): the job goes on unless stopped"
        f" (rabtui jobs cancel {going_on.job_id})",
        f"the stop of job {post.job_id}'s post-backup commands was not written ({why}): they run unless stopped"
        f" (rabtui jobs cancel {post.job_id} --post-commands-too)",
        f"a cancel confirmed in a console that ended as it noted it, pid {dead}, was not written: its job is not"
        " known and goes on unless stopped (rabtui jobs lists those under way)"]), notes()
    assert sorted(p.name for p in (state / "logs" / "tui-cancels").iterdir()) == ["d.json"]
    for rec in (going_on, stopped, post):
        rec.finish("completed", 0)
