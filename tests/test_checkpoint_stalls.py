"""A checkpoint whose xorriso hangs (stopped with SIGSTOP, as a hung drive or a stuck file system
leaves it): after `checkpoint.io_timeout` seconds without progress the burn, the verification or
a restore from the discs fails with the reason, xorriso is gone, and a retry goes on from there."""

from __future__ import annotations

import os
from contextlib import contextmanager
import shlex
import shutil
import signal
import tempfile
import threading
import time

import pytest

from rabtui.checkpoint import prepare, questions, run
from rabtui.errors import WorkFailed
from rabtui.events import ABORT, READY, RETRY, WARNING, ScriptedPrompter
from rabtui.restore import run as restore_run
from tests.procs import signalled
from tests.test_kill_anywhere import _xorriso_pids
from tests.test_disc_verify_metadata import burn_one
from tests.trees import Lab, sandbox_fixtures, snapshot, write_files

STALL = 3
LINKS = 20


def small_stall_lab(tmp_path):
    """A backup of six 8 MiB files, checkpoint.io_timeout STALL, and its checkpoint recorded, onto one 100 MiB disc."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("100MiB", [("data", "standard")], f"io_timeout = {STALL}\n")
    write_files(lab.src / "data", {f"f{i}": os.urandom(8 << 20) for i in range(6)})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
    return lab, cfg, store, number


# small_stall_lab made once for the module, each test given it anew (at the same place: its xorriso
# are told from others' by a path below lab.tmp)
_sandbox_made, stall_lab = sandbox_fixtures(small_stall_lab, "stall_lab", media_count=1)


class Stopper(threading.Thread):
    """SIGSTOPs (or sends `sig`) the first xorriso whose arguments hold `needle` and a path below
    `tmp_path` (never one of another test's), and remembers it. Polling /proc may miss a short
    xorriso on a loaded machine: with `at_start` (within `stopping`) the xorriso run by name stops
    itself before it starts, certain: a program of that name ahead on PATH sends `sig` to itself
    when its arguments hold both, the first time only, then runs the real one (stopped, it never
    gets there)."""

    def __init__(self, needle: bytes, tmp_path, sig: int = signal.SIGSTOP):
        super().__init__(daemon=True)
        self.needles, self.sig, self.stopped, self.done = (needle, os.fsencode(tmp_path)), sig, set(), threading.Event()
        self.pids: str | None = None

    def at_start(self, place) -> str:
        """The directory of the xorriso that stops itself (made in `place`), to put ahead on PATH."""
        here = os.fsencode(tempfile.mkdtemp(prefix="stop-at-start-", dir=place))
        self.pids = os.fsdecode(os.path.join(here, b"pids"))
        needle, below = (shlex.quote(os.fsdecode(n)) for n in self.needles)
        script = (f"#!/bin/sh\nneedle=0 below=0\nfor a; do\n  case $a in *{needle}*) needle=1;; esac\n"
                  f"  case $a in *{below}*) below=1;; esac\ndone\n"
                  f"if [ $needle$below = 11 ] && mkdir {shlex.quote(self.pids + '.once')} 2>/dev/null; then\n"
                  f"  echo $$ > {shlex.quote(self.pids)}; kill -{int(self.sig)} $$\nfi\n"
                  f"exec {shlex.quote(shutil.which('xorriso'))} \"$@\"\n")
        with open(os.path.join(here, b"xorriso"), "w") as f:
            f.write(script)
        os.chmod(os.path.join(here, b"xorriso"), 0o755)
        return os.fsdecode(here)

    def stopped_at_start(self) -> None:
        """The xorriso that stopped themselves so far, taken among the stopped."""
        if self.pids is not None and os.path.exists(self.pids):
            with open(self.pids) as f:
                self.stopped.update(int(line) for line in f.read().split())

    def run(self) -> None:
        while not self.done.is_set() and not self.stopped:
            if self.pids is not None:
                self.stopped_at_start()
                self.done.wait(0.01)
                continue
            for pid in _xorriso_pids(*self.needles):
                if signalled(pid, self.sig):        # not one ended since it was listed
                    self.stopped.add(pid)

    def left(self) -> set[int]:
        """The stopped processes that still run (not zombies)."""
        out = set()
        for pid in self.stopped:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                        out.add(pid)
            except OSError:
                pass
        return out


@contextmanager
def stopping(needle: bytes, tmp_path, on_hang=None, sig: int = signal.SIGSTOP, hang: float = STALL + 60,
             at_start: bool = True):
    """Within: a Stopper of the first xorriso that holds `needle` (and a path below `tmp_path`), and
    `on_hang` called if the block still runs `hang` seconds on (a hang fails the test, not the run;
    by default the stopped xorriso are killed then); at its end every stopped one left is killed.
    `at_start` (the default): the xorriso stops itself as it starts (Stopper.at_start), certain
    where a poll of /proc may see a short one only once it has ended; else one is stopped where
    the poll finds it."""
    stopper = Stopper(needle, tmp_path, sig)
    path = os.environ.get("PATH", os.defpath)
    if at_start:
        os.environ["PATH"] = stopper.at_start(tmp_path) + os.pathsep + path
    watchdog = threading.Timer(hang, on_hang or (lambda: [signalled(pid, signal.SIGKILL) for pid in stopper.left()]))
    stopper.start()
    watchdog.start()
    try:
        yield stopper
    finally:
        os.environ["PATH"] = path
        watchdog.cancel()
        stopper.done.set()
        stopper.join()
        stopper.stopped_at_start()
        for pid in stopper.left():
            signalled(pid, signal.SIGKILL)      # unless the burn ended it since
    assert stopper.stopped, "xorriso was never seen to stop it"


def burn_with(tmp_path, needle: bytes, sig: int = signal.SIGSTOP, made=None):
    """Burn the checkpoint of `made` (a stall_lab; by default small_stall_lab(tmp_path)), `sig` sent
    to its first xorriso that holds `needle`; the first failure is retried, the next aborted. (its
    result, [(question, when, stopped ones still there)], its start, the store, its number)"""
    lab, cfg, store, number = made or small_stall_lab(tmp_path)
    asked = []
    cancel = threading.Event()
    began = time.monotonic()
    with stopping(needle, lab.tmp, cancel.set, sig) as stopper:

        def operator(q):
            if q.kind == questions.FAILED:
                asked.append((q.text, time.monotonic(), stopper.left()))
                return RETRY if len(asked) == 1 else ABORT
            return READY

        res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=cancel,
                                  prompter=ScriptedPrompter(operator))
    return res, asked, began, store, number


@pytest.mark.parametrize("needle, said", [(b"-outdev", "Writing disc 1 (RAB{}D01) failed:"),   # the write
                                          (b"-check_media", "RAB{}D01")])                    # its verification
def test_a_stopped_xorriso_fails_the_disc_after_io_timeout_and_a_retry_verifies_it(stall_lab, needle, said):
    res, asked, began, store, number = burn_with(None, needle, made=stall_lab)
    assert asked, ("the disc never failed", res)
    text, when, left = asked[0]
    assert said.format(number) in text and f"{STALL} s" in text, text
    assert when - began < STALL + 30
    assert not left, "the stopped xorriso outlived the failure"
    assert res.status == "completed", res.message
    assert {r["state"] for r in store.all("SELECT state FROM discs")} == {"verified"}


def test_a_stopped_xorriso_fails_a_restore_from_the_discs_after_io_timeout_and_it_runs_again(tmp_path, stall_lab):
    lab, cfg, store, number = stall_lab
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                              prompter=ScriptedPrompter(lambda q: READY))
    assert res.status == "completed", res.message
    data = str(lab.src / "data")
    cancel = threading.Event()
    began = time.monotonic()
    with stopping(b"-extract", lab.tmp, cancel.set) as stopper:
        with pytest.raises(WorkFailed) as failed:
            restore_run.restore(cfg, store, "loc", data, checkpoint=number, to=tmp_path / "out", cancel=cancel)
        left = stopper.left()
    assert f"RAB{number}D01: xorriso wrote nothing for {STALL} s" in str(failed.value), str(failed.value)
    assert time.monotonic() - began < STALL + 30
    assert not left, "the stopped xorriso outlived the failure"
    restore_run.restore(cfg, store, "loc", data, checkpoint=number, to=tmp_path / "out", overwrite=True)
    assert snapshot(tmp_path / "out" / data.lstrip("/")) == snapshot(data)


def test_a_stopped_xorriso_reading_the_symlinks_xattrs_ends_the_restore_naming_them(shm):
    """As root, a restore from the discs reads its symlinks' xattrs in an xorriso run of their own:
    a drive that hangs then leaves those xattrs unset, said, and the restore ends."""
    if os.geteuid() != 0:
        pytest.skip("only root sets xattrs on a symlink")
    lab = Lab(shm, media_count=1)
    cfg = lab.with_discs("8MiB", [("data", "standard")], f"io_timeout = {STALL}\n")
    data = lab.src / "data"
    write_files(data, {"f": b"the target"})
    (data / "links").mkdir()
    try:
        for i in range(LINKS):
            os.symlink("../f", data / "links" / f"l{i}")
            os.setxattr(data / "links" / f"l{i}", "trusted.kept", b"value", follow_symlinks=False)
    except OSError as exc:
        pytest.skip(f"{shm} takes no trusted. xattr on a symlink here: {exc.strerror}")
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_one(lab, cfg, store)
    cancel = threading.Event()
    began = time.monotonic()
    with stopping(b"getfattr", shm, cancel.set) as stopper:
        done = restore_run.restore(cfg, store, "loc", str(data), checkpoint=number, to=shm / "out", cancel=cancel)
        left = stopper.left()
    assert time.monotonic() - began < STALL + 30
    assert not left, "the stopped xorriso outlived the failure"
    said = "\n".join(done.written.problems())
    assert f"wrote nothing for {STALL} s" in said and "symlinks" in said, said
    assert (shm / "out" / str(data).lstrip("/") / "f").read_bytes() == b"the target"


class Throttler(threading.Thread):
    """Lets each xorriso whose arguments hold `needle` and a path below `tmp_path` run only
    `share` of the time (SIGSTOP, SIGCONT): a slow drive, whose reader waits most of the time."""

    def __init__(self, needle: bytes, tmp_path, share: float = 0.05, period: float = 0.2):
        super().__init__(daemon=True)
        self.needles, self.share, self.period = (needle, os.fsencode(tmp_path)), share, period
        self.done, self.seen = threading.Event(), set()

    def run(self) -> None:
        while not self.done.is_set():
            pids = _xorriso_pids(*self.needles)
            self.seen |= set(pids)
            self._send(pids, signal.SIGCONT)
            time.sleep(self.period * self.share)
            self._send(pids, signal.SIGSTOP)
            stopped_until = time.monotonic() + self.period * (1 - self.share)
            while time.monotonic() < stopped_until and not self.done.is_set():
                new = set(_xorriso_pids(*self.needles)) - self.seen     # one started meanwhile: slow at once
                self.seen |= new
                self._send(new, signal.SIGSTOP)
                time.sleep(0.02)
        self._send(self.seen, signal.SIGCONT)

    @staticmethod
    def _send(pids, sig: int) -> None:
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


@pytest.mark.slow
def test_a_slow_verification_of_a_large_file_is_no_stall(tmp_path):
    """xorriso's MD5 check of a file says nothing until the file is read: a large file on a slow
    drive takes longer than checkpoint.io_timeout without a word, working all the while."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("200MiB", [("data", "standard")], "io_timeout = 2\n")
    write_files(lab.src / "data", {"large": os.urandom(64 << 20)})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
    throttler = Throttler(b"-check_media", tmp_path, share=0.02)
    cancel = threading.Event()
    watchdog = threading.Timer(120, cancel.set)
    throttler.start()
    watchdog.start()
    asked = []

    def operator(q):
        if q.kind == questions.FAILED:
            asked.append(q.text)
            return ABORT
        return READY

    try:
        res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=cancel,
                                  prompter=ScriptedPrompter(operator))
    finally:
        watchdog.cancel()
        throttler.done.set()
        throttler.join()
    assert throttler.seen, "the verification's xorriso was never seen"
    assert not asked, asked
    assert res.status == "completed", res.message


def test_a_stalled_verification_leaves_the_disc_written_for_the_next_run_to_verify(stall_lab):
    """A drive that hangs while a written disc is read back has not judged the disc: it is not
    marked failed (which a later run writes anew, on a new disc), the question says so and offers
    a retry first, and after an abort the next run verifies the disc it has."""
    _stalled_verification_left_for_the_next_run(stall_lab, lambda cancel: stopping(b"-check_media", stall_lab[0].tmp,
                                                                                    cancel.set))


def test_a_drive_hanging_as_the_volume_id_is_read_leaves_the_disc_unjudged(tmp_path, stall_lab, monkeypatch):
    """The volume id, read first, is read as the rest of the disc is: a drive that answers nothing
    for checkpoint.io_timeout seconds leaves the disc unjudged, with a retry offered; it does not end
    the run as cancelled (as it did, after ten minutes, whatever io_timeout said)."""
    _stalled_verification_left_for_the_next_run(stall_lab, lambda cancel: _hangs_once(tmp_path, monkeypatch, cancel,
                                                                                      "-pvd_info"))


def test_a_burner_hanging_as_its_disc_is_checked_or_ejected_is_asked_about_not_cancelled(tmp_path, stall_lab, monkeypatch):
    """A burner (xorriso's stdio: pseudo drive) that answers nothing for checkpoint.io_timeout as
    the disc put in is checked for blank asks again, saying so; one that does not eject the verified
    disc is said, and the run completes. Neither ends the run as cancelled (after 300 s and 120 s,
    whatever io_timeout said)."""
    lab, cfg, store, number = stall_lab
    disc_file = tmp_path / "burner.iso"
    asked, warned = [], []

    def operator(q):
        asked.append(q.text)
        disc_file.unlink(missing_ok=True)      # a new blank disc
        return READY

    cancel = threading.Event()
    with _hangs_once(tmp_path, monkeypatch, cancel, "-toc", "-eject"):
        res = run.burn_checkpoint(cfg, store, number, drive=f"stdio:{disc_file}", cancel=cancel,
                                  emit=lambda e: e.kind == WARNING and warned.append(e.message),
                                  prompter=ScriptedPrompter(operator))
    assert res.status == "completed", res.message
    assert len(asked) == 2 and f"did not answer (xorriso wrote nothing for {STALL} s)" in asked[1], asked
    assert [w for w in warned if f"did not eject the disc (xorriso wrote nothing for {STALL} s)" in w], warned
    assert {r["state"] for r in store.all("SELECT state FROM discs")} == {"verified"}


@contextmanager
def _hangs_once(tmp_path, monkeypatch, cancel, *options):
    """Within: the first xorriso given each of `options` (-pvd_info: reading a volume id) stops
    itself (SIGSTOP) as it starts, too soon for a Stopper to see it; the others run as they are.
    The run is cancelled if still there STALL + 60 s on (a hang fails the test, not the run)."""
    bin_dir = tmp_path / "hung-bin"
    bin_dir.mkdir()
    marked = [tmp_path / f"hung{option}" for option in options]
    (bin_dir / "xorriso").write_text("#!/bin/sh\n" + "".join(
        f"""case " $* " in *" {option} "*) [ -e '{marker}' ] || {{ : > '{marker}'; kill -STOP $$; }} ;; esac\n"""
        for option, marker in zip(options, marked)) + f"exec '{shutil.which('xorriso')}' \"$@\"\n")
    (bin_dir / "xorriso").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    watchdog = threading.Timer(STALL + 60, cancel.set)
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()
    assert all(marker.exists() for marker in marked), f"not all of {options} were run"


def _stalled_verification_left_for_the_next_run(stall_lab, hang):
    lab, cfg, store, number = stall_lab
    asked = []

    def operator(q):
        if q.kind == questions.FAILED:
            asked.append(q)
            return ABORT
        return READY

    cancel = threading.Event()
    with hang(cancel):
        res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=cancel,
                                  prompter=ScriptedPrompter(operator))
    assert res.status == "aborted", res.message
    [q] = asked
    assert f"{STALL} s" in q.text and "not judged" in q.text and q.choices[0] == RETRY, (q.text, q.choices)
    assert store.one("SELECT state FROM discs WHERE number=? AND disc=1", (number,))["state"] == "written"
    again = ScriptedPrompter(lambda q: READY)
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(), prompter=again)
    assert res.status == "completed", res.message
    assert any("was written but not verified" in q.text for q in again.asked), [q.text for q in again.asked]
    assert {r["state"] for r in store.all("SELECT state FROM discs")} == {"verified"}
