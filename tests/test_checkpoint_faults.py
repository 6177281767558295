"""Checkpoint burns that go wrong, with real xorriso onto `images:` drives: an OS error while
writing (the image path is a directory, a full file system), a job killed while it writes, a
disc written but not verified, and abandoning a checkpoint that cannot be finished."""

from __future__ import annotations

import gzip

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from rabtui.checkpoint import burn, prepare, questions, run
from rabtui.checkpoint import status as checkpoint_status
from rabtui.cli import main as cli_main
from rabtui.events import ABORT, READY, RETRY, REWRITE, SKIP, ScriptedPrompter
from rabtui.actions import checkpoint as checkpoint_actions
from rabtui.actions import jobs as jobviews
from rabtui.media import medium_layout
from tests import preloaded
from tests.test_checkpoint import _burn, _lab, _record
from tests.trees import path_target, sandbox_fixtures, write_files


def _two_discs(tmp_path):
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {f"f{i}": 1_000_000 for i in range(5)})
    write_files(lab.src / "other", {"o": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    assert store.one("SELECT discs FROM checkpoints WHERE number=?", (number,))["discs"] >= 2
    return lab, cfg, store, number


_sandbox_made, two_discs = sandbox_fixtures(_two_discs, "two_discs")


def _states(store, number) -> dict[int, str]:
    return {r["disc"]: r["state"] for r in store.all("SELECT disc, state FROM discs WHERE number=?", (number,))}


def test_an_os_error_while_writing_prompts_like_a_failed_write(two_discs):
    """The image path is a directory: the operator is asked (with the reason), the disc reads
    failed meanwhile, and a retry once the path is free completes the checkpoint."""
    lab, cfg, store, number = two_discs
    blocker = lab.tmp / "iso" / f"RAB{number}D01.iso"
    (blocker / "in the way").mkdir(parents=True)
    seen_while_asked = []

    def operator(q):
        if q.kind == questions.FAILED:
            seen_while_asked.append((q.text, _states(store, number)[1]))
            os.rmdir(blocker / "in the way")
            os.rmdir(blocker)
            return RETRY
        return READY

    res, prompter, _ = _burn(lab, cfg, store, number, operator)
    assert res.status == "completed", res.message
    [(text, state)] = seen_while_asked
    assert f"Writing disc 1 (RAB{number}D01) failed:" in text and "Is a directory" in text and str(blocker) in text
    assert state == "failed"
    assert tuple(next(q for q in prompter.asked if q.kind == questions.FAILED).choices) == ("retry", "rewrite", "skip", "abort")
    assert set(_states(store, number).values()) == {"verified"}


@pytest.mark.parametrize("answer", [SKIP, ABORT, "nobody"])
def test_a_checkpoint_left_unfinished_at_a_failed_disc_is_one_warning_naming_the_disc(two_discs, answer):
    """Disc 1's write fails (its image path a directory); the operator skips it or aborts, or nobody
    answers (a detached job's question: the run fails). Each leaves the checkpoint unfinished with
    disc 1 failed, the media still holding what it reads: `check` says so once, as a warning naming
    the disc and how to go on (a skipped or failed run gave a critical disc problem beside the
    warning, an aborted one the warning alone, without the disc). Found bad once complete, a disc
    is critical (test_checkpoint_holds_what_it_recorded)."""
    from rabtui.ops import health

    lab, cfg, store, number = two_discs
    (lab.tmp / "iso" / f"RAB{number}D01.iso" / "in the way").mkdir(parents=True)

    def operator(q):
        if q.kind != questions.FAILED:
            return READY
        if answer == "nobody":
            raise RuntimeError("no answer")
        return answer

    try:
        _burn(lab, cfg, store, number, operator)
    except RuntimeError:
        assert answer == "nobody"
    assert _states(store, number)[1] == "failed"
    problems = {p.check_id: p for p in health.run_checks(cfg, store)
                if p.check_id.startswith(("disc:", "unfinished:"))}
    assert list(problems) == [f"unfinished:{number}"], problems
    said = problems[f"unfinished:{number}"]
    assert said.level == "warning" and f"disc RAB{number}D01 failed (" in said.message, said.message
    assert f"rabtui checkpoint resume {number}" in said.message and f"rabtui checkpoint abandon {number}" in said.message


def test_a_full_image_file_system_prompts_and_the_job_survives(two_discs):
    """ENOSPC: the images: directory on a 1 MiB tmpfs. The write fails with the reason and a
    prompt; abort leaves the disc failed, not writing."""
    lab, cfg, store, number = two_discs
    small = lab.tmp / "iso"
    small.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(small)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        res, prompter, _ = _burn(lab, cfg, store, number, [READY, ABORT])
        failed = prompter.asked[1]
        assert failed.kind == questions.FAILED and "Writing disc 1" in failed.text
        assert "exceeds free space" in failed.text or "No space left on device" in failed.text, failed.text
        assert res.status == "aborted"
        assert _states(store, number)[1] == "failed"
    finally:
        subprocess.run(["umount", str(small)], check=True)


@pytest.mark.parametrize("size", ["8k", "96k"])
def test_a_full_staging_file_system_names_it_and_the_job_survives(tmp_path, tmpfs, size):
    """The state directory's checkpoints/ full as a disc's README.txt and rabtui/ are put together:
    the copy of the config failed naming the config file, and the copy of the database ended the
    whole job saying the database could not be written, SQLite's temporary folder full."""
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {f"f{i}": 1_000_000 for i in range(5)})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    tmpfs(lab.state / "checkpoints", f"size={size},mode=700")
    number = _record(lab, cfg, store)
    res, prompter, _ = _burn(lab, cfg, store, number, [READY, ABORT])
    failed = next(q for q in prompter.asked if q.kind == questions.FAILED)
    assert "Writing disc 1" in failed.text and "No space left on device" in failed.text, failed.text
    assert f"{lab.state / 'checkpoints'}/" in failed.text and str(lab.config_path) not in failed.text, failed.text
    assert res.status == "aborted" and _states(store, number)[1] == "failed"


def _cli(lab, *args) -> list[str]:
    return [sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args]


def test_a_disc_xorriso_stops_writing_leaves_no_image_and_resume_writes_it(tmp_path, monkeypatch):
    """xorriso 1.5.4 stops an image it has begun ("Calculated and written ECMA-119 tree end
    differ"): four symlinks with 764-byte targets in one directory, the fourth made long on the
    medium after the plan, as the disc is written (after the burn looked at it: before, the disc is
    refused as its target changed). The failed disc leaves no image in the folder (a half-written one would
    look like a disc to burn later, and to rebuild-state), the reason is libisofs's own, and once
    the link is as planned again, resume writes and verifies the disc."""
    lab, cfg = _lab(tmp_path)
    links = lab.src / "data" / "links"
    links.mkdir(parents=True)
    for i in range(3):
        os.symlink(path_target(764), links / f"l{i:02d}")
    os.symlink("short", links / "l03")
    write_files(lab.src / "other", {"o": b"x"})
    backup = lab.backup(cfg)
    store = lab.store()
    number = _record(lab, cfg, store)
    fourth = medium_layout.backup_data_path(backup.path, str(links.parent)) / "links" / "l03"
    write_disc, writes = burn.write_disc, []

    def made_long_then_write(*args, **kw):
        writes.append(args[1])
        if len(writes) == 1:
            fourth.unlink()
            os.symlink(path_target(764), fourth)
        return write_disc(*args, **kw)

    monkeypatch.setattr(burn, "write_disc", made_long_then_write)
    image = tmp_path / "iso" / f"RAB{number}D01.iso"
    seen = []

    def operator(q):
        if q.kind == questions.FAILED:
            seen.append((q.text, image.exists(), _states(store, number)[1]))
            return ABORT
        return READY

    res, _, _ = _burn(lab, cfg, store, number, operator)
    [(text, left, state)] = seen
    assert "libisofs: FATAL : Image is most likely damaged" in text, text
    assert not left and state == "failed" and res.status == "aborted"
    assert not list((tmp_path / "iso").glob("*.iso"))
    fourth.unlink()
    os.symlink("short", fourth)
    res, _, _ = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message
    assert set(_states(store, number).values()) == {"verified"}


def test_killed_while_writing_reads_interrupted_then_resume_completes(two_discs):
    """A real SIGKILL of the whole burn (rabtui and xorriso) as soon as the first image appears."""
    lab, cfg, store, number = two_discs
    first = lab.tmp / "iso" / f"RAB{number}D01.iso"
    proc = preloaded.Popen(_cli(lab, "checkpoint", "resume", str(number), "--yes"), start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    # the image is made empty (0600) just before xorriso writes into it: wait for its first bytes
    while not (first.exists() and first.stat().st_size) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    state = _states(store, number)[1]
    assert state in ("writing", "written", "verified")   # where the kill landed
    status, discs = checkpoint_status.shown_discs(store, number, "burning")
    assert status == "interrupted"
    if state == "writing":
        assert discs[0]["state"] == "interrupted"
        [cp] = checkpoint_actions.shown_checkpoints(store)
        assert cp["status"] == "interrupted" and cp["disc_rows"][0]["state"] == "interrupted"
        out = preloaded.run(_cli(lab, "checkpoint", "status"), capture_output=True, text=True)
        assert f"checkpoint {number} " in out.stdout and "interrupted" in out.stdout, out.stdout
        job = store.one("SELECT id FROM jobs WHERE kind='checkpoint' ORDER BY id DESC LIMIT 1")
        assert not jobviews.poll_jobs(store).running       # the screens' poll finds the job gone
        detail = jobviews.job_detail(store, job["id"])      # the Runs screen's view of it
        assert detail.job["status"] == "dead" and detail.discs[-1]["state"] == "interrupted"
    done = preloaded.run(_cli(lab, "checkpoint", "resume", "--yes"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert set(_states(store, number).values()) == {"verified"}


def test_a_disc_written_but_not_verified_is_verified_on_resume_not_rewritten(two_discs):
    """Killed after the image was complete, before its row said verified: resume verifies it."""
    lab, cfg, store, number = two_discs
    res, _, _ = _burn(lab, cfg, store, number, [READY, ABORT])
    assert res.status == "aborted" and res.verified == [1]
    store.execute("UPDATE discs SET state='written' WHERE number=? AND disc=1", (number,))
    image = lab.tmp / "iso" / f"RAB{number}D01.iso"
    before = image.stat().st_ino, image.stat().st_mtime_ns
    res, prompter, _ = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message
    assert "was written but not verified" in prompter.asked[0].text
    assert (image.stat().st_ino, image.stat().st_mtime_ns) == before
    # a damaged one is found and rewritten
    store.execute("UPDATE discs SET state='written' WHERE number=? AND disc=1", (number,))
    with open(image, "r+b") as f:
        f.truncate(image.stat().st_size // 2)
    store.execute("UPDATE checkpoints SET status='aborted' WHERE number=?", (number,))
    res, prompter, _ = _burn(lab, cfg, store, number, lambda q: "rewrite" if q.kind == questions.FAILED else READY)
    assert res.status == "completed", res.message
    assert any(q.kind == questions.FAILED for q in prompter.asked)


def _changed_in_the_backup(lab) -> None:
    """The files of the backup on the medium changed in place since the plan (size and mtime kept,
    as bit rot or a hand leave them)."""
    for f in (lab.media[0][1] / "loc").glob("backup-*/data/**/f[0-9]"):
        mtime = f.stat().st_mtime_ns
        with open(f, "r+b") as out:
            out.write(b"changed")
        os.utime(f, ns=(mtime, mtime))


def test_a_disc_whose_files_changed_in_the_backup_after_the_plan_offers_no_rewrite(two_discs):
    """What the backup holds changed after the plan read its checksums: the disc written from it
    fails its verification, said as that change, and no new disc is offered (it would fail alike)."""
    lab, cfg, store, number = two_discs
    res, _, _ = _burn(lab, cfg, store, number, [READY, ABORT])
    _changed_in_the_backup(lab)
    res, prompter, _ = _burn(lab, cfg, store, number, lambda q: ABORT if q.kind == questions.FAILED else READY)
    failed = next(q for q in prompter.asked if q.kind == questions.FAILED)
    assert REWRITE not in failed.choices, (failed.text, failed.choices)
    assert "content changed in the backup on the medium after the checkpoint was planned" in failed.text
    assert f"checkpoint {number} was planned" in failed.text and "rewrite would fail the same way" in failed.text


def test_a_disc_whose_file_the_backup_made_a_symlink_after_the_plan_offers_no_rewrite(two_discs):
    """A file of the backup replaced by a symlink after the plan (a hand, or an attack on the medium):
    its disc, written from the backup as it is, would fail, and so would a rewrite (a real disc
    wasted on each): it is not written."""
    lab, cfg, store, number = two_discs
    res, _, _ = _burn(lab, cfg, store, number, [READY, ABORT])
    for f in (lab.media[0][1] / "loc").glob("backup-*/data/**/f[0-9]"):
        f.unlink()
        f.symlink_to("/etc/hostname")
    res, prompter, _ = _burn(lab, cfg, store, number, lambda q: ABORT if q.kind == questions.FAILED else READY)
    failed = next(q for q in prompter.asked if q.kind == questions.FAILED)
    assert REWRITE not in failed.choices, (failed.text, failed.choices)
    assert "a symlink now, a file when the checkpoint was planned" in failed.text, failed.text
    assert "so would any rewrite; nothing was written" in failed.text, failed.text
    assert not list((lab.tmp / "iso").glob(f"RAB{number}D02.iso*"))


def test_abandon_keeps_verified_discs_and_lets_a_new_checkpoint_start(two_discs, capsys):
    lab, cfg, store, number = two_discs
    res, _, _ = _burn(lab, cfg, store, number, [READY, ABORT])
    assert res.verified == [1]
    _changed_in_the_backup(lab)    # disc 2, written from it, fails its verification
    res, _, _ = _burn(lab, cfg, store, number, lambda q: ABORT if q.kind == questions.FAILED else READY)
    assert res.status == "aborted" and _states(store, number)[2] == "failed"
    conf = ["--config", str(lab.config_path)]
    assert cli_main([*conf, "checkpoint", "burn", "--yes"]) == 2
    assert f"rabtui checkpoint abandon {number}" in capsys.readouterr().err
    assert cli_main([*conf, "checkpoint", "abandon", str(number)]) == 0
    out = capsys.readouterr().out
    assert f"checkpoint {number} abandoned" in out and "disc 1 stays verified" in out
    assert f"not verified, so no disc to burn: {lab.tmp / 'iso' / f'RAB{number}D02.iso'}" in out
    states = _states(store, number)
    assert states[1] == "verified" and set(states.values()) == {"verified", "abandoned"}
    assert cli_main([*conf, "checkpoint", "status"]) == 0
    assert f"checkpoint {number} " in (out := capsys.readouterr().out) and ": abandoned," in out
    assert cli_main([*conf, "checkpoint", "resume", str(number), "--yes"]) == 2
    assert f"checkpoint {number} was abandoned" in capsys.readouterr().err
    with pytest.raises(Exception, match="abandoned"):
        run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                            prompter=ScriptedPrompter(lambda q: READY))
    assert cli_main([*conf, "checkpoint", "abandon", str(number)]) == 0
    assert "already abandoned" in capsys.readouterr().out
    # its disc 2 was written (it failed): verify said it was never written, and that resume writes it
    assert cli_main([*conf, "checkpoint", "verify", str(number), "--yes"]) == 1
    said = capsys.readouterr()
    assert f"disc 2 was not verified before checkpoint {number} was abandoned" in said.err, said
    assert "never written" not in said.out + said.err and "resume" not in said.out + said.err, said
    # the directories are still due: a new checkpoint starts without --new, and completes
    assert cli_main([*conf, "checkpoint", "burn", "--yes"]) == 0
    assert store.one("SELECT status FROM checkpoints WHERE number=?", (number + 1,))["status"] == "completed"
    assert cli_main([*conf, "checkpoint", "abandon", str(number + 1)]) == 2
    assert "is complete" in capsys.readouterr().err


@pytest.mark.parametrize("gone", ["catalog", "folder"])
def test_killed_between_the_rows_and_the_catalog_the_catalog_is_written_on_resume(tmp_path, two_discs, gone):
    """Also with the checkpoint's whole folder in checkpoints/ removed (room made in the state
    directory): each disc failed, its catalog written into a folder that was not there."""
    lab, cfg, store, number = two_discs
    catalog = prepare.checkpoint_dir(cfg, number) / "catalog.tsv"
    recorded = catalog.read_text()
    if gone == "catalog":
        catalog.unlink()      # where a kill right after the database rows leaves it
    else:
        shutil.rmtree(catalog.parent)
    res, _, _ = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message
    assert catalog.read_text() == recorded
    on_disc = subprocess.run(["xorriso", "-no_rc", "-indev", f"stdio:{lab.tmp}/iso/RAB{number}D02.iso",
                              "-osirrox", "on", "-extract", "/rabtui/catalog.tsv.gz", str(tmp_path / "cat.tsv.gz")],
                             capture_output=True)
    assert on_disc.returncode == 0 and gzip.decompress((tmp_path / "cat.tsv.gz").read_bytes()).decode() == recorded


def test_a_writing_disc_reads_interrupted_only_when_no_job_writes_the_checkpoint(two_discs, capsys):
    lab, cfg, store, number = two_discs
    # as a job killed while writing disc 1 leaves the rows
    store.execute("UPDATE checkpoints SET status='burning' WHERE number=?", (number,))
    store.execute("UPDATE discs SET state='writing' WHERE number=? AND disc=1", (number,))
    [cp] = checkpoint_actions.shown_checkpoints(store)
    assert cp["status"] == "interrupted" and [d["state"] for d in cp["disc_rows"]][0] == "interrupted"
    assert cli_main(["--config", str(lab.config_path), "checkpoint", "status"]) == 0
    assert f"checkpoint {number} " in (out := capsys.readouterr().out) and "interrupted, 2 x 4MiB (1 interrupted, 1 planned)" in out
    with run.locks.drive_lock(cfg.state_dir, cfg.checkpoint.drive):   # a job of another checkpoint
        [cp] = checkpoint_actions.shown_checkpoints(store)
        assert cp["status"] == "interrupted" and cp["disc_rows"][0]["state"] == "interrupted"
    with run.locks.checkpoint_lock(cfg.state_dir, number):   # a live job writing it
        [cp] = checkpoint_actions.shown_checkpoints(store)
        assert cp["status"] == "burning" and cp["disc_rows"][0]["state"] == "writing"
    _burn(lab, cfg, store, number, [READY, ABORT])   # resume: disc 1 is written anew
    assert _states(store, number)[1] == "verified"
    assert _states(store, number)[2] == "planned"


def test_a_read_only_image_directory_prompts_with_the_reason(tmp_path, two_discs):
    """EROFS from rabtui itself (making the images: directory), not from xorriso."""
    lab, cfg, store, number = two_discs
    ro = tmp_path / "ro"
    ro.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1M", "tmpfs", str(ro)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        prompter = ScriptedPrompter([READY, ABORT])
        res = run.burn_checkpoint(cfg, store, number, drive=f"images:{ro}/discs", emit=lambda e: None,
                                  cancel=threading.Event(), prompter=prompter)
        failed = prompter.asked[1]
        assert failed.kind == questions.FAILED
        assert f"Writing disc 1 (RAB{number}D01) failed:" in failed.text
        assert "Read-only file system" in failed.text and f"{ro}/discs" in failed.text
        assert res.status == "aborted" and _states(store, number)[1] == "failed"
    finally:
        subprocess.run(["umount", str(ro)], check=True)


def test_verify_after_a_kill_while_writing_does_not_take_the_half_written_disc_for_a_failed_one(two_discs):
    """A real SIGKILL with disc 1 marked writing: `checkpoint verify` says it was never written,
    fails no disc (check raises no critical disc), and resume writes it."""
    from tests.test_kill_anywhere import rabtui

    lab, cfg, store, number = two_discs
    killed = rabtui(lab, "checkpoint", "resume", str(number), "--yes", point="burn.before_write")
    assert killed.returncode == -signal.SIGKILL
    assert _states(store, number)[1] == "writing"
    done = rabtui(lab, "checkpoint", "verify", str(number), "--yes")
    assert done.returncode == 1
    assert f"checkpoint {number}: discs 1, 2 not verified" in done.stdout
    assert "disc 1 was never written" in done.stderr and "Rewrite" not in done.stderr
    assert _states(store, number) == {1: "interrupted", 2: "planned"}
    check = rabtui(lab, "check")
    assert "disc RAB" not in check.stdout + check.stderr
    assert rabtui(lab, "checkpoint", "resume", "--yes").returncode == 0
    assert set(_states(store, number).values()) == {"verified"}


def test_what_was_staged_for_a_disc_goes_once_it_is_verified(two_discs):
    """Each disc's staging holds a copy of the state database: 64 discs kept 64 copies in the
    state directory for good. Once verified only the catalog stays (a rewrite stages anew)."""
    lab, cfg, store, number = two_discs
    res, _, _ = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message
    folder = prepare.checkpoint_dir(cfg, number)
    assert sorted(p.name for p in folder.iterdir()) == ["catalog.tsv", "catalog.tsv.gz"]
    os.truncate(lab.tmp / "iso" / f"RAB{number}D02.iso", 100_000)
    out = run.verify_checkpoint(cfg, store, number, disc=2, emit=lambda e: None, cancel=threading.Event(),
                                prompter=ScriptedPrompter(lambda q: "rewrite" if q.kind == questions.FAILED else READY))
    assert out.verified == [2], out.message
    assert sorted(p.name for p in folder.iterdir()) == ["catalog.tsv", "catalog.tsv.gz"]


def test_a_verification_this_machine_fails_leaves_the_disc_unjudged_and_offers_no_rewrite(two_discs):
    """The machine verifying a disc fails it (here EMFILE: no file descriptor left to run xorriso
    with; a full or failing state directory or TMPDIR, ENOMEM likewise), not the disc: the disc is
    not marked failed and no rewrite on a new disc is offered (one would throw a good disc away),
    the run ends not verified (exit 1), and once the machine is fixed a retry verifies the disc."""
    import resource

    lab, cfg, store, number = two_discs
    res, _, _ = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message
    limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    asked = []

    def operator(q):
        if q.kind == questions.INSERT:
            resource.setrlimit(resource.RLIMIT_NOFILE, (0, limits[1]))   # no new descriptor from here on
            return READY
        asked.append(q)
        if len(asked) == 1:
            return RETRY
        resource.setrlimit(resource.RLIMIT_NOFILE, limits)
        return SKIP

    try:
        out = run.verify_checkpoint(cfg, store, number, disc=1, emit=lambda e: None, cancel=threading.Event(),
                                    prompter=ScriptedPrompter(operator))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, limits)
    assert (out.status, out.skipped, out.exit_code) == ("incomplete", [1], 1), out.message
    assert len(asked) == 2 and all(q.kind == questions.FAILED for q in asked), [q.text for q in asked]
    for q in asked:
        assert "could not be verified" in q.text and "Too many open files" in q.text, q.text
        assert "verification failed" not in q.text and REWRITE not in q.choices, (q.text, q.choices)
    assert _states(store, number)[1] == "verified"
    out = run.verify_checkpoint(cfg, store, number, disc=1, emit=lambda e: None, cancel=threading.Event(),
                                prompter=ScriptedPrompter(lambda q: READY))
    assert (out.status, out.verified) == ("completed", [1]), out.message


def test_a_verification_this_machine_fails_while_reading_the_media_leaves_the_disc_unjudged(two_discs):
    """Before a disc is read back, where each file of an archive directory was read is found on the
    media (the backup that first saved it): this machine failing there (EMFILE here) stops no
    verification with a traceback and judges no disc: it is asked about as any verification this
    machine fails, keeps its state, and a retry once the machine is fixed verifies it."""
    import resource

    lab, cfg, store, number = two_discs
    res, _, _ = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message
    [disc] = {r["disc"] for r in store.all("SELECT disc, disc_path FROM disc_files WHERE number=?", (number,))
              if bytes(r["disc_path"]).endswith(b"/other/o")}
    limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    asked = []

    def operator(q):
        if q.kind == questions.INSERT:
            resource.setrlimit(resource.RLIMIT_NOFILE, (0, limits[1]))   # no new descriptor from here on
            return READY
        asked.append(q)
        resource.setrlimit(resource.RLIMIT_NOFILE, limits)
        return RETRY

    try:
        out = run.verify_checkpoint(cfg, store, number, disc=disc, emit=lambda e: None, cancel=threading.Event(),
                                    prompter=ScriptedPrompter(operator))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, limits)
    assert (out.status, out.verified) == ("completed", [disc]), out.message
    [q] = asked
    assert q.kind == questions.FAILED and REWRITE not in q.choices, (q.text, q.choices)
    assert "could not be verified" in q.text and "Too many open files" in q.text, q.text
    assert "reading the media it was written from" in q.text and "verification failed" not in q.text, q.text
    assert _states(store, number)[disc] == "verified"


def test_rebuild_state_after_a_burn_killed_at_disc_2_records_it_unfinished_as_it_was(two_discs, capsys):
    """A real SIGKILL of the burn while it writes disc 2 (disc 1 verified), then the database lost:
    rebuild-state records disc 2 as never written (its `.writing` leftover is no disc, and the copy
    of the state on disc 1 was made before disc 2 was written), the checkpoint as unfinished and its
    directories as due, as they were before; not a complete checkpoint whose directories are not
    due with a disc that does not exist. `checkpoint abandon` then removes the leftover."""
    lab, cfg, store, number = two_discs
    begun = lab.tmp / "iso" / f"RAB{number}D02.iso.writing"
    proc = preloaded.Popen(_cli(lab, "checkpoint", "resume", str(number), "--yes"), start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (begun.exists() and begun.stat().st_size) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and begun.exists()
    assert _states(store, number) == {1: "verified", 2: "writing"}
    due_before = {r["path"]: r["last_checkpoint"] for r in store.all("SELECT path, last_checkpoint FROM dir_state")}
    store.close()
    lab.lose_database()
    conf = ["--config", str(lab.config_path)]
    assert cli_main([*conf, "rebuild-state"]) == 0
    assert f"checkpoint {number}: disc 2 of 2 not written" in capsys.readouterr().out
    store = lab.store()
    assert store.one("SELECT status FROM checkpoints WHERE number=?", (number,))["status"] == "aborted"
    assert _states(store, number) == {1: "verified", 2: "planned"}
    assert {r["path"]: r["last_checkpoint"] for r in store.all("SELECT path, last_checkpoint FROM dir_state")} \
        == due_before and set(due_before.values()) == {None}
    assert cli_main([*conf, "checkpoint", "status"]) == 0
    assert f"checkpoint {number} " in (out := capsys.readouterr().out) and ": aborted," in out, out
    assert cli_main([*conf, "checkpoint", "abandon", str(number)]) == 0
    assert not begun.exists() and _states(store, number) == {1: "verified", 2: "abandoned"}


def test_rebuild_state_removes_what_a_burn_killed_at_its_first_disc_left(two_discs, capsys):
    """A burn killed as xorriso writes its first disc leaves `RAB<n>D01.iso.writing`, no disc; the
    database lost, rebuild-state finds no disc of the checkpoint, so neither its next write (its
    number is never given again) nor `checkpoint abandon` (no such checkpoint) would ever remove
    it: rebuild-state does, and says so."""
    lab, cfg, store, number = two_discs
    store.close()
    killed = preloaded.run(_cli(lab, "checkpoint", "resume", str(number), "--yes"), capture_output=True,
                            env={**os.environ, "RABTUI_FAULT_POINT": "burn.xorriso_started"})
    assert killed.returncode == -signal.SIGKILL
    iso = lab.tmp / "iso"
    deadline = time.time() + 60      # the xorriso rabtui ran ends with it
    while subprocess.run(["pgrep", "-f", str(iso / f"RAB{number}D01")], capture_output=True).returncode == 0 \
            and time.time() < deadline:
        time.sleep(0.05)
    assert [p.name for p in iso.iterdir()] == [f"RAB{number}D01.iso.writing"]
    lab.lose_database()
    assert cli_main(["--config", str(lab.config_path), "rebuild-state"]) == 0
    out = capsys.readouterr().out
    assert f"{iso / f'RAB{number}D01.iso.writing'} removed: what a burn killed" in out, out
    assert list(iso.iterdir()) == []
    assert lab.store().one("SELECT COUNT(*) FROM checkpoints")[0] == 0



def test_a_disc_whose_file_was_removed_from_the_backup_after_the_plan_offers_no_rewrite(two_discs):
    """A file of the backup deleted on the medium after the plan (a hand, a cleanup): the write
    failed naming it, and offered a rewrite and a retry that failed the same way for ever."""
    lab, cfg, store, number = two_discs
    gone = sorted((lab.media[0][1] / "loc").glob("backup-*/data/**/f[0-9]"))
    for f in gone:
        f.unlink()
    res, prompter, _ = _burn(lab, cfg, store, number, lambda q: ABORT if q.kind == questions.FAILED else READY)
    failed = next(q for q in prompter.asked if q.kind == questions.FAILED)
    assert REWRITE not in failed.choices, (failed.text, failed.choices)
    assert "removed from the backup on the medium after the checkpoint was planned" in failed.text, failed.text
    assert any(f"/f{i}" in failed.text for i in range(5)) and "nothing was written" in failed.text
    assert res.status == "aborted" and _states(store, number)[1] == "failed"


def test_a_medium_gone_as_a_disc_is_begun_is_said_not_at_hand_not_its_files_removed(two_discs):
    """The medium unmounted after it was found at hand, as the blank disc goes in: every file of
    the backup looks removed; that is said as the medium not at hand, and a retry once it is back
    writes the disc."""
    lab, cfg, store, number = two_discs
    medium = lab.media[0][1]
    away = medium.with_name(medium.name + "-away")
    asked = []

    def operator(q):
        if q.kind == questions.INSERT and not away.exists() and not asked:
            medium.rename(away)
            medium.mkdir()          # an empty mount point
        if q.kind == questions.FAILED:
            asked.append(q)
            medium.rmdir()
            away.rename(medium)
            return RETRY if len(asked) == 1 else ABORT
        return READY

    res, prompter, _ = _burn(lab, cfg, store, number, operator)
    assert asked, [q.text for q in prompter.asked]
    text = asked[0].text
    assert "removed" not in text and "not at hand" in text and "medium1" in text, text
    assert RETRY in asked[0].choices
    assert 1 in res.verified, res.message


@pytest.mark.parametrize("change", ["mode", "owner", "time"])
def test_a_disc_whose_files_mode_owner_or_time_changed_in_the_backup_after_the_plan_offers_no_rewrite(two_discs, change):
    """A file's mode, owner or time changed in the backup on the medium after the plan: a disc
    written from it would hold it so and fail against the plan's record, as a rewrite would. It is
    found before the disc is written (one was wasted each time)."""
    lab, cfg, store, number = two_discs
    res, _, _ = _burn(lab, cfg, store, number, [READY, ABORT])
    for f in (lab.media[0][1] / "loc").glob("backup-*/data/**/f[0-9]"):
        if change == "mode":
            f.chmod(0o600)
        elif change == "owner":
            os.chown(f, 4321, 4321)
        else:
            os.utime(f, (1_500_000_000, 1_500_000_000))
    res, prompter, _ = _burn(lab, cfg, store, number, lambda q: ABORT if q.kind == questions.FAILED else READY)
    failed = next(q for q in prompter.asked if q.kind == questions.FAILED)
    assert REWRITE not in failed.choices, (failed.text, failed.choices)
    assert f"its {change} changed in the backup on the medium after the checkpoint was planned" in failed.text, failed.text
    assert "so would any rewrite; nothing was written" in failed.text, failed.text
    assert not list((lab.tmp / "iso").glob(f"RAB{number}D02.iso*")) and _states(store, number)[2] == "failed"


def test_a_disc_failed_on_a_mode_its_backup_holds_as_planned_again_offers_a_rewrite_whatever_the_year(tmp_path,
                                                                                                     monkeypatch):
    """Files dated past 2155 (a disc holds the nearest time it can): the medium's own time is as the
    plan recorded it, not taken for a time changed since the plan. Chmod-ed on the medium while
    disc 1 was written (after the burn looked at them) and back after: its verification fails on
    their mode, a rewrite passes."""
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {f"f{i}": 1_000_000 for i in range(5)})
    for f in (lab.src / "data").iterdir():
        os.utime(f, (7_258_118_400, 7_258_118_400))     # 2200-01-01
    write_files(lab.src / "other", {"o": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    files = list((lab.media[0][1] / "loc").glob("backup-*/data/**/f[0-9]"))
    write_disc, writes = burn.write_disc, []

    def chmod_while_written(*args, **kw):
        writes.append(args[1])
        for f in files if len(writes) == 1 else ():
            f.chmod(0o600)
        try:
            return write_disc(*args, **kw)
        finally:
            for f in files:
                f.chmod(0o644)

    monkeypatch.setattr(burn, "write_disc", chmod_while_written)
    res, prompter, _ = _burn(lab, cfg, store, number,
                             lambda q: REWRITE if q.kind == questions.FAILED and REWRITE in q.choices else
                             ABORT if q.kind == questions.FAILED else READY)
    failed = next(q for q in prompter.asked if q.kind == questions.FAILED)
    assert REWRITE in failed.choices and "changed in the backup" not in failed.text, (failed.text, failed.choices)
    assert "mode 0600, backed up 0644" in failed.text, failed.text
    assert 1 in res.verified and writes[:2] == [f"RAB{number}D01"] * 2, (res.message, writes)


def test_an_archive_file_a_later_backup_saved_anew_only_chmod_ed_is_written_as_the_plan_found_it(two_discs):
    """Chmod-ed on the source after the plan: the next backup saves it anew (its size and time the
    same) and the union shows that copy; the backup the plan read still holds it as recorded, and
    the disc is written from that one, not from the copy of another mode (failed, no rewrite offered)."""
    lab, cfg, store, number = two_discs
    (lab.src / "other" / "o").chmod(0o600)
    assert lab.backup(cfg).status == "completed"
    res, prompter, _ = _burn(lab, cfg, store, number, lambda q: ABORT if q.kind == questions.FAILED else READY)
    assert res.status == "completed", [q.text for q in prompter.asked if q.kind == questions.FAILED]


def test_a_run_that_skipped_a_disc_leaves_its_checkpoint_unfinished_not_interrupted(two_discs, capsys):
    """A burn that ends, a disc skipped by the operator: the checkpoint is unfinished, as its job is
    failed, not left `burning`, which read `interrupted` once the job was gone, and had the next
    resume say the run burning it ended before it finished."""
    lab, cfg, store, number = two_discs
    res, _, _ = _burn(lab, cfg, store, number, lambda q: SKIP if q.text.startswith("Insert blank disc 2 ") else READY)
    assert res.status == "incomplete" and res.skipped == [2], res.message
    assert store.one("SELECT status FROM checkpoints WHERE number=?", (number,))["status"] == "failed"
    conf = ["--config", str(lab.config_path)]
    assert cli_main([*conf, "checkpoint", "status"]) == 0
    assert f"checkpoint {number} (" in (out := capsys.readouterr().out) and "interrupted" not in out, out
    assert cli_main([*conf, "checkpoint", "resume", "--yes"]) == 0
    out = capsys.readouterr()
    assert "interrupted" not in out.out + out.err, out
    assert store.one("SELECT status FROM checkpoints WHERE number=?", (number,))["status"] == "completed"
