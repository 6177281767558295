"""A medium whose path changed in the config (its disk moved to another mount point) while the
catalog records its backups at the old path, where a decoy now lies (a copy of the disk labelled
as another medium, its file changed): restore, Browse, find, checkpoint plan and burn read nothing
there and say why; `rabtui check` warns; once `rebuild-state` has recorded the backups where they
are, each reads them at the medium's new path. Real rsync, real xorriso (an images: drive)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from datetime import datetime, timedelta

import pytest

from rabtui.actions.rebuild import rebuild_state
from rabtui.checkpoint import prepare, run
from rabtui.cli import main
from rabtui.errors import WorkFailed
from rabtui.events import ABORT, READY, ScriptedPrompter, no_emit
from rabtui.media.at_hand import another_there
from rabtui.ops.health import run_checks
from rabtui.ops.problems import WARNING
from rabtui.restore import run as R
from tests.trees import Lab, burn_due, snapshot, write_files

T0 = datetime(2026, 3, 1, 2, 0, 0)
ADVICE = "`rabtui rebuild-state` records the backups where they are"


def _moved(tmp_path):
    """Two backups on m1, then the move (_move)."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700")
    write_files(lab.src / "data", {"a.txt": b"real 1"})
    assert lab.backup(cfg, now=T0).status == "completed"
    write_files(lab.src / "data", {"a.txt": b"real 2"})
    assert lab.backup(cfg, now=T0 + timedelta(days=1)).status == "completed"
    return (lab, *_move(lab))


def _move(lab):
    """m1 moved to `new` (the config says so), a decoy at the old path: the disk copied, labelled
    as m9, each file saying DECOY (its size and mtime kept, an xattr added)."""
    old, new = lab.media[0][1], lab.tmp / "larger-disk"
    old.rename(new)
    lab.config_path.write_text(lab.config_path.read_text().replace(f'path = "{old}"', f'path = "{new}"'))
    subprocess.run(["cp", "-a", str(new), str(old)], check=True)
    label = old / ".rabtui-medium"
    text = json.loads(label.read_text())
    label.unlink()
    label.write_text(json.dumps({**text, "id": "m9"}))
    for top, _, files in os.walk(old / "loc"):
        for f in files:
            if f not in ("backup.json", "backup.log"):
                path = os.path.join(top, f)
                st = os.lstat(path)
                os.unlink(path)
                with open(path, "wb") as out:
                    out.write(b"DECOY!")     # the size of the real files
                os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
                os.setxattr(path, "user.decoy", b"1")
    return lab.load(), old, new


def test_readers_refuse_the_old_path_then_read_the_new_one_after_rebuild_state(tmp_path, capsys):
    lab, cfg, old, new = _moved(tmp_path)
    decoy = snapshot(old)
    data = lab.src / "data"
    store = lab.store()
    m1 = cfg.medium("m1")

    # restore: refused, with the advice; nothing of the decoy given back
    with pytest.raises(WorkFailed, match="rebuild-state") as err:
        R.restore(cfg, store, "loc", str(data / "a.txt"), to=tmp_path / "out")
    assert f"not on medium m1 at {new}" in str(err.value) and str(old) in str(err.value)
    assert not (tmp_path / "out").exists() or b"DECOY" not in b"".join(snapshot(tmp_path / "out").values())
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data / "a.txt"),
                 "--to", str(tmp_path / "out2")]) != 0
    assert ADVICE in capsys.readouterr().err

    # Browse asks this before it reads a backup's tree (browse_tree._another_medium)
    assert ADVICE in another_there(m1, store)

    # find: the copies on m1 are out of reach, said why
    assert main(["--config", str(lab.config_path), "find", "a.txt"]) == 0
    assert "recorded off the medium's path" in capsys.readouterr().out

    # checkpoint plan: refused, with the reason
    with pytest.raises(WorkFailed, match="rebuild-state"):
        prepare.compute(cfg, store, asked={"*"})

    # check: a warning with the advice
    moved = [p for p in run_checks(cfg, store) if p.check_id == "moved:m1"]
    assert len(moved) == 1 and moved[0].level == WARNING and ADVICE in moved[0].message, moved
    assert snapshot(old) == decoy

    # a backup onto the medium goes on at its new path
    write_files(data, {"a.txt": b"real 3"})
    res = lab.backup(cfg, now=T0 + timedelta(days=2))
    assert res.status == "completed" and store.one("SELECT path FROM backups WHERE id=?", (res.backup_id,))[
        "path"].startswith(f"{new}/")
    assert snapshot(old) == decoy

    rebuild_state(cfg, no_emit, None, None)
    store = lab.store()
    assert another_there(m1, store) is None
    assert not [p for p in run_checks(cfg, store) if p.check_id.startswith("moved:")]
    R.restore(cfg, store, "loc", str(data / "a.txt"), to=tmp_path / "out3")
    assert (tmp_path / "out3" / str(data / "a.txt").lstrip("/")).read_bytes() == b"real 3"
    number = burn_due(cfg, store, {"*"})
    R.restore(cfg, store, "loc", str(data), checkpoint=number, to=tmp_path / "from-disc")
    assert (tmp_path / "from-disc" / str(data / "a.txt").lstrip("/")).read_bytes() == b"real 3"
    assert snapshot(old) == decoy


def test_a_checkpoint_planned_before_the_move_burns_nothing_from_the_old_path(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700")
    write_files(lab.src / "data", {"a.txt": b"real"})
    assert lab.backup(cfg, now=T0).status == "completed"
    store = lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store, asked={"*"}), drive=cfg.checkpoint.drive)
    old, new = lab.media[0][1], tmp_path / "larger-disk"
    shutil.copytree(old, new, symlinks=True)
    for top, _, files in os.walk(old / "loc"):      # the old disk, still mounted, changed since
        for f in files:
            if f == "a.txt":
                with open(os.path.join(top, f), "wb") as out:
                    out.write(b"DECOY")
    lab.config_path.write_text(lab.config_path.read_text().replace(f'path = "{old}"', f'path = "{new}"'))
    cfg = lab.load()
    asked = []

    def answer(q):
        asked.append(q.text)
        return ABORT

    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                              prompter=ScriptedPrompter(answer))
    assert res.status != "completed"
    assert asked and ADVICE in asked[0], asked
    iso = tmp_path / "iso"
    assert not iso.exists() or not any(b"DECOY" in p.read_bytes() for p in iso.rglob("*") if p.is_file())


def test_verify_reads_nothing_at_the_old_path_and_says_why_it_did_not_compare(tmp_path):
    """A disc burned before the move: its verification compares the disc's ACLs and xattrs with no
    backup (the decoy's extra xattr would fail it), and says why, as for a medium not mounted."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700", [("data", "standard"), ("arch", "archive")])
    write_files(lab.src / "data", {"a.txt": b"real", "b/c.txt": b"real too"})
    write_files(lab.src / "arch", {"d/e.txt": b"kept"})
    assert lab.backup(cfg, now=T0).status == "completed"
    number = burn_due(cfg, lab.store(), {"*"})
    cfg, old, new = _move(lab)
    decoy = snapshot(old)
    res = run.verify_checkpoint(cfg, lab.store(), number, emit=lambda e: None, cancel=threading.Event(),
                                prompter=ScriptedPrompter(lambda q: READY))
    assert res.verified == [1], res.message
    said = " ".join(res.unchecked[1])
    assert "the backup they are compared with is not at hand" in said and ADVICE in said, said
    assert f"not on medium m1 at {new}" in said, said
    assert snapshot(old) == decoy


@pytest.mark.parametrize("change", ["content", "mode"])
def test_a_disc_that_fails_with_its_medium_moved_says_nothing_of_the_decoy_at_the_old_path(tmp_path, change):
    """A disc burnt before the move differs from the catalog (its file's content, or its mode): what
    lies at the old path is not the medium, so the disc is not said to hold what changed in the
    backup on the medium after the plan (the decoy's content differs, its mode too), only what it
    differs in."""
    from tests.test_disc_verify_metadata import alter

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700", [("data", "standard")])
    write_files(lab.src / "data", {"a.txt": b"real 1"})
    os.chmod(lab.src / "data" / "a.txt", 0o644)
    assert lab.backup(cfg, now=T0).status == "completed"
    number = burn_due(cfg, lab.store(), {"*"})
    cfg, old, _new = _move(lab)
    [decoy] = list(old.rglob("a.txt"))
    os.chmod(decoy, 0o600)
    [iso] = (tmp_path / "iso").glob("*.iso")
    on_disc = "/data/loc/" + str(lab.src / "data").lstrip("/") + "/a.txt"
    if change == "content":
        fake = tmp_path / "fake"
        fake.write_bytes(b"fake 1")
        os.chmod(fake, 0o644)
        st = os.stat(lab.src / "data" / "a.txt")
        os.utime(fake, ns=(st.st_atime_ns, st.st_mtime_ns))
        alter(iso, "-map", str(fake), on_disc, "-chown", str(st.st_uid), on_disc, "--",
              "-chgrp", str(st.st_gid), on_disc, "--")
    else:
        alter(iso, "-chmod", "0600", on_disc, "--")
    asked = []

    def answer(q):
        asked.append(q.text)
        return READY if len(asked) == 1 else "skip"

    res = run.verify_checkpoint(cfg, lab.store(), number, disc=1, emit=lambda e: None, cancel=threading.Event(),
                                prompter=ScriptedPrompter(answer))
    assert res.verified == [], res.message
    failed = asked[-1]
    assert "a.txt" in failed and "verification failed" in failed, failed
    assert "on the medium" not in failed and "after checkpoint" not in failed, failed
