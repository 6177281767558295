"""Over generated histories of real backups onto two media under clocks right, ahead and behind (by
minutes and by years), failed and kept runs among them, checkpoints onto discs taken between them,
the database rebuilt from media and discs with a medium away or not, and a backup made after: a
restore of one file, with each medium away or there, reads the newest copy holding it of those it
can know and read (by the real order the backups were made in, and what the media and discs
hold), and exits 3 when that is not the newest copy there is or a medium may hold backups the
database does not know. Real rsync, xorriso, rebuild-state and the command line."""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from rabtui.cli import main
from tests.trees import Lab, burn_due, write_files

T0 = datetime(2026, 3, 1, 2, 0, 0)
# a day apart: a clock behind by 1 (2) days 5 minutes dates a backup 5 minutes before the one (two) before it
CLOCKS = [timedelta(0), timedelta(minutes=5), -timedelta(days=1, minutes=5), -timedelta(days=2, minutes=5),
          timedelta(days=4 * 365), -timedelta(days=4 * 365)]
MEDIA = ["m1", "m2"]

RUNS = {"completed": "", "failed": 'pre_backup_commands = ["exit 3"]', "kept": 'post_backup_commands = ["exit 7"]'}
step = st.tuples(st.sampled_from(MEDIA), st.sampled_from(CLOCKS), st.sampled_from([True, True, False]),
                 st.sampled_from([False, True]), st.sampled_from(["completed", "completed", "failed", "kept"]))
history = st.tuples(st.lists(step, min_size=2, max_size=4),
                    st.sampled_from([None, (), ("m1",), ("m2",)]),      # rebuilt with these away
                    st.one_of(st.none(), st.tuples(st.sampled_from(MEDIA), st.sampled_from(CLOCKS))),
                    st.sampled_from([(), ("m1",), ("m2",), ("m1", "m2")]))      # away at the restore


def _run(lab: Lab, *args: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["--config", str(lab.config_path), *args])
    return code, err.getvalue()


def _away(lab: Lab, ids, tmp: Path):
    for m, path in lab.media:
        if m in ids:
            path.rename(tmp / f"{m}-away")


def _back(lab: Lab, ids, tmp: Path):
    for m, path in lab.media:
        if m in ids:
            (tmp / f"{m}-away").rename(path)


@settings(max_examples=4, deadline=None)
@given(history)
# the discs tied with an older backup by a later clock behind
@example(([("m1", timedelta(0), True, False, "completed"), ("m2", timedelta(0), True, True, "completed"),
           ("m1", -timedelta(days=2, minutes=5), False, False, "completed")], None, None, ("m2",)))
# two checkpoints of a medium away during the rebuild, the later one's backup dated years behind
@example(([("m1", timedelta(0), True, True, "completed"), ("m1", -timedelta(days=4 * 365), True, True, "completed")],
          ("m1",), None, ()))
# a kept backup after the one a checkpoint was taken from (checkpoints take complete ones): the
# checkpoint's copy of the state knew it, made after
@example(([("m1", timedelta(0), True, False, "completed"), ("m1", timedelta(0), True, False, "completed"),
           ("m2", timedelta(0), True, True, "kept")], ("m1",), None, ()))
def test_a_restore_reads_the_newest_copy_it_can_or_says_why(h):
    _check(h)


# a kept backup is no link base: one made after it under a clock behind is named before it, and
# rebuild-state takes the order from the ids their records hold
KEPT_THEN_BEHIND = ([("m1", timedelta(0), True, False, "completed"), ("m2", timedelta(0), True, False, "kept"),
                     ("m2", -timedelta(days=1, minutes=5), True, False, "completed")], (), None, ())


def test_a_backup_made_after_a_kept_one_under_a_clock_behind_is_newer_after_a_rebuild():
    _check(KEPT_THEN_BEHIND)


def _check(h) -> None:
    steps, rebuilt_away, after, away = h
    tmp = Path(tempfile.mkdtemp())
    try:
        lab = Lab(tmp, media_count=2)
        discs_of = f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp / "iso"}"\n'
        runs = {k: lab.write(lab._local_source(None, extra, "loc") + discs_of) for k, extra in RUNS.items() if extra}
        cfg = runs["completed"] = lab.with_discs("4MiB")
        (tmp / "iso").mkdir()
        a = lab.src / "data" / "a.txt"
        write_files(lab.src / "data", {"b.txt": b"b"})
        made = []        # (order, medium, backup name, content of a.txt or None)
        discs = []       # (order of the backup a checkpoint was taken from, content)
        content = None
        names = {}       # (name, medium) of each backup -> its order
        for i, (medium, clock, write, checkpoint, run) in enumerate(steps):
            if write:
                content = b"v" * (i + 1)    # a size of its own: never taken for another version
                write_files(lab.src / "data", {"a.txt": content})
            elif a.exists():
                a.unlink()
                content = None
            b = lab.backup(runs[run], now=T0 + timedelta(days=i) + clock, medium_id=medium)
            assert b.status == ("completed" if run == "completed" else "failed"), b.reason
            made.append((i, medium, None if run == "failed" else content))
            names[tuple(lab.store().one("SELECT name, medium FROM backups ORDER BY id DESC LIMIT 1"))] = i
            if checkpoint and lab.store().one("SELECT 1 FROM backups WHERE status='completed'"):
                burn_due(cfg, lab.store(), {"*"})
                order = names[tuple(lab.store().one("SELECT b.name, b.medium FROM checkpoint_dirs c JOIN backups b"
                                              " ON b.id=c.backup_id ORDER BY c.number DESC LIMIT 1"))]
                discs.append((order, made[order][2]))
        unread = set()
        if rebuilt_away is not None:
            _away(lab, rebuilt_away, tmp)
            lab.lose_database()
            code, err = _run(lab, "rebuild-state")
            _back(lab, rebuilt_away, tmp)
            if code == 1 and "nothing" in err:
                return      # every backup and disc away: refused, nothing to restore from
            assert code in (0, 3), err
            unread = set(rebuilt_away)
        if after is not None and after[0] not in unread:
            i = len(steps)
            content = b"v" * (i + 1)
            write_files(lab.src / "data", {"a.txt": content})
            assert lab.backup(cfg, now=T0 + timedelta(days=i) + after[1], medium_id=after[0]).status == "completed"
            made.append((i, after[0], content))
        _away(lab, away, tmp)
        code, err = _run(lab, "restore", "loc", str(a), "--to", str(tmp / "out"))
        got = tmp / "out" / str(a).lstrip("/")
        got = got.read_bytes() if got.exists() else None
        copies = [(i, c, m) for i, m, c in made if c is not None] + [(i, c, "disc") for i, c in discs if c is not None]
        known = [x for x in copies if x[2] not in unread]
        readable = [x for x in known if x[2] not in away]
        newest_known = max(known, default=None)
        want = max(readable, default=None)
        why = f"{h}: {copies} {code} {got} {err}"
        if want is None:
            assert code != 0 and got is None, why
            return
        assert got == want[1], why
        if newest_known[:2] != want[:2] or {m for _i, m, _c in made} & unread - set(away) or unread & set(away):
            assert code == 3, why     # an older copy, or a medium holding backups the database does not know
        if max(copies)[1] != got:
            assert code == 3, why
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
