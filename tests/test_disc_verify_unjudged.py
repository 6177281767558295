"""What fails on this machine while a disc is verified judges no disc (operators throw failed discs
away): an extraction the state directory refuses to take is read back as a stream instead, one
xorriso fails for want of file descriptors or memory, or killed by a signal, as it reads the disc
in any way (its volume id, its check, its listings, its extraction, each file streamed) leaves the
disc in its state, and rebuild-state names
the image it could not verify again and goes on. A disc xorriso cannot read when it extracts it is
failed, saying so. Real backups, real xorriso, an `images:` drive."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from rabtui import faults
from rabtui.faults import STOP_ENV
from tests.test_rebuild_keeps_writers_out import _stopped
from tests.trees import Lab, burn_due, closed, made_once, write_files

# root that modes bind as they bind any other user (no CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), xorriso too
NO_OVERRIDE = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
               "--bounding-set=-dac_override,-dac_read_search"]


@pytest.mark.parametrize("closed", ["before", "while"])
def test_a_disc_whose_extraction_the_state_directory_refuses_is_read_as_a_stream_not_failed(tmp_path, closed):
    """The directory a verification extracts the disc in is closed to it once made (EACCES, its
    file system not full), before the extraction made anything there, or while it ran (the disc's
    root made there, closed with it): xorriso's extraction fails for this machine, not for the
    disc. The disc is read back as a stream and verified, never marked failed ("files missing")
    and offered for a rewrite on a new disc."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to bind root by modes")
    lab = Lab(tmp_path)
    cfg = lab.with_discs("cd-700")
    write_files(lab.src / "data", {"a": 3000, "b/c": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    run = subprocess.Popen([*NO_OVERRIDE, sys.executable, "-m", "rabtui", "--config", str(lab.config_path),
                            "checkpoint", "verify", str(number), "--yes"],
                           env={**os.environ, STOP_ENV: "verify.extracting"}, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not _stopped(run.pid):
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.02)
    [scratch] = glob.glob(str(lab.state / "checkpoints" / "verify-*" / "disc"))
    if closed == "before":
        os.chmod(scratch, 0o555)
    else:
        os.mkdir(os.path.join(scratch, "d"), 0o555)     # where xorriso puts the disc's root (verify.py)
    run.send_signal(signal.SIGCONT)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, out + err
    streamed = [line for line in err.splitlines() if "reading each file back as a stream" in line]
    assert streamed and "cannot be written" in streamed[0] and "Permission denied" in streamed[0], err
    assert "verification failed" not in err and "extracting the disc failed" not in err, err
    assert store.one("SELECT state FROM discs WHERE number=? AND disc=1", (number,))["state"] == "verified"
    assert not glob.glob(str(lab.state / "checkpoints" / "verify-*")), "the scratch is left behind"


def test_rebuild_state_names_an_image_this_machine_could_not_verify_and_goes_on(tmp_path, monkeypatch, capsys):
    """rebuild-state verifies each disc image again: this machine failing while it verifies one
    (EMFILE here: no descriptor left to run xorriso with) judges no disc and ends no rebuild. That
    image stays written, named with why (a warning, exit 3), the other disc is verified, the new
    state database is in place, and `checkpoint verify` then verifies the one left."""
    import resource
    import threading

    from rabtui.checkpoint import run
    from rabtui.cli import main
    from rabtui.events import READY, ScriptedPrompter
    from rabtui.rebuild import verify as rebuild_verify
    from rabtui.state.store import Store

    lab = Lab(tmp_path, media_count=1)
    lab.with_discs("4MiB")
    write_files(lab.src / "data", {f"big{k}": os.urandom(1_500_000) for k in range(3)})
    assert lab.backup(lab.load()).status == "completed"
    argv = ["--config", str(lab.config_path)]
    assert main([*argv, "checkpoint", "burn", "--yes", "--now"]) == 0
    assert (tmp_path / "iso" / "RAB1D02.iso").exists()
    lab.lose_database()
    real, calls = rebuild_verify.verify_disc, []

    def out_of_descriptors_once(*args, **kw):
        calls.append(args[1])
        if len(calls) > 1:
            return real(*args, **kw)
        limits = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (0, limits[1]))
        try:
            return real(*args, **kw)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, limits)

    monkeypatch.setattr(rebuild_verify, "verify_disc", out_of_descriptors_once)
    capsys.readouterr()
    code = main([*argv, "rebuild-state"])
    said = "".join(capsys.readouterr())
    assert code == 3, said
    assert calls == ["RAB1D01", "RAB1D02"], calls
    assert "RAB1D01 could not be verified again: Too many open files" in said and "not the disc" in said, said
    assert "failed verification" not in said, said
    store = Store(lab.state)
    states = {r["disc"]: (r["state"], r["message"]) for r in store.all("SELECT * FROM discs WHERE number=1")}
    assert states[1][0] == "written" and "Too many open files" in states[1][1], states
    assert states[2][0] == "verified", states
    monkeypatch.undo()
    out = run.verify_checkpoint(lab.load(), store, 1, disc=1, emit=lambda e: None, cancel=threading.Event(),
                                prompter=ScriptedPrompter(lambda q: READY))
    assert out.verified == [1], out.message


def _verified_disc(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.with_discs("cd-700")
    write_files(lab.src / "data", {"a": 3000, "b/c": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    return cfg, store, burn_due(cfg, store), tmp_path / "iso"


@pytest.fixture(scope="module")
def _verified_disc_made(tmp_path_factory):
    def make(live):
        _cfg, store, number, _iso = _verified_disc(live)
        store.close()
        closed(Lab(live))
        return number

    yield from made_once(tmp_path_factory, make)


@pytest.fixture
def verified_disc(_verified_disc_made):
    """What _verified_disc makes, anew for each test (made once for the module), in lab.tmp."""
    number, made = _verified_disc_made
    lab = Lab(made.anew())
    return lab.load(), lab.store(), number, lab.tmp / "iso"


def _verify_again(cfg, store, number):
    """Verify disc 1 again, skipping it at the first failure: (what that asked, the disc's state)."""
    import threading

    from rabtui.checkpoint import questions, run
    from rabtui.events import READY, SKIP, ScriptedPrompter

    asked = []

    def operator(q):
        if q.kind == questions.INSERT:
            return READY
        asked.append(q)
        return SKIP

    out = run.verify_checkpoint(cfg, store, number, disc=1, emit=lambda e: None, cancel=threading.Event(),
                                prompter=ScriptedPrompter(operator))
    assert out.skipped == [1] and len(asked) == 1, out.message
    return asked[0], store.one("SELECT state FROM discs WHERE number=? AND disc=1", (number,))["state"]


def test_a_disc_xorriso_cannot_read_when_it_extracts_it_is_failed_saying_so(verified_disc, monkeypatch):
    """The disc is read (its volume id, every block and MD5 checked), then, as the extraction
    begins, it cannot be read any more (here the image is cut short: a disc the drive no longer
    reads): xorriso fails before it makes the disc's root in the scratch. Nothing could be
    compared, the disc is failed with xorriso's reason and a rewrite is offered; it is not taken
    for this machine's failure over the root that is not there."""
    from rabtui.events import REWRITE

    cfg, store, number, iso = verified_disc
    image = iso / f"RAB{number}D01.iso"
    real = faults.point

    def cut_short(name):
        if name == "verify.extracting":
            os.truncate(image, 20 * 2048)     # the volume descriptors, not the directory tree
        real(name)

    monkeypatch.setattr(faults, "point", cut_short)
    q, state = _verify_again(cfg, store, number)
    assert state == "failed" and REWRITE in q.choices, (state, q.choices, q.text)
    assert "verification failed: nothing could be extracted from the disc (xorriso exit" in q.text, q.text
    assert "Cannot read ISO image tree" in q.text and "could not be verified" not in q.text, q.text


@pytest.mark.parametrize("wrapper, said", [
    # the image opens, the first file restored does not
    (["prlimit", "--nofile=4", "--"], "xorriso failed while extracting the disc: "),
    # as the OOM killer would (a limit of CPU time let a quick extraction end first on a busy machine)
    (["sh", "-c", "kill -KILL $$", "sh"], "xorriso was killed by signal SIGKILL while extracting the disc"),
])
def test_an_extraction_this_machine_fails_judges_no_disc(verified_disc, monkeypatch, wrapper, said):
    """xorriso extracts the disc with no file descriptor to spare, or is killed: this machine's
    failure (xorriso says it is out of descriptors, or it was killed by a signal), whether or not it
    made the disc's root before. The disc keeps its state (verified), no rewrite is offered, and the
    question names the reason."""
    if not shutil.which("prlimit"):
        pytest.skip("needs prlimit")
    from rabtui.checkpoint import xorriso
    from rabtui.events import REWRITE

    cfg, store, number, _iso = verified_disc
    real = xorriso.extract_argv
    monkeypatch.setattr(xorriso, "extract_argv", lambda *a, **k: [*wrapper, *real(*a, **k)])
    q, state = _verify_again(cfg, store, number)
    assert state == "verified" and REWRITE not in q.choices, (state, q.choices, q.text)
    assert f"could not be verified: {said}" in q.text and "not the disc" in q.text, q.text
    assert wrapper[0] != "prlimit" or "Too many open files" in q.text, q.text


# how each xorriso that reads the disc is built (xorriso.py), and what a failure of it is said to be doing
# (xorriso.py's unless named with its module)
READS = {"volid_argv": "reading the disc's volume id", "check_argv": "checking the disc",
         "attrs_argv": "listing the ACLs and xattrs of the disc", "disc_listing.names_argv": "listing the disc",
         "listed_argv": "listing the disc", "concat_argv": "reading files back from the disc"}


def wrap_reader(monkeypatch, builder: str, head: list[str]) -> None:
    """The xorriso of READS' `builder` run behind `head` (["prlimit", ...])."""
    from rabtui.checkpoint import disc_listing, xorriso

    module, name = (disc_listing, builder.split(".")[1]) if "." in builder else (xorriso, builder)
    real = getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a, **k: [*head, *real(*a, **k)])


@pytest.mark.parametrize("limit, said", [
    ("--stack=16000", "xorriso was killed by signal SIGSEGV while "),   # its stack overflows: killed by the kernel
    ("--as=7000000", "xorriso failed while "),    # its libraries load, what it then allocates does not
])
def test_an_xorriso_this_machine_fails_as_it_reads_the_disc_judges_no_disc(verified_disc, monkeypatch, limit, said):
    """Each xorriso run that reads the disc (its volume id, the check of every block and MD5, the
    listing of its xattrs and ACLs, of its entries, each file read back as a stream) in turn killed
    by a signal, or short of memory: this machine's failure. The disc keeps its state (verified), no
    rewrite is offered, and the question names what xorriso was doing. The same disc cut short (the
    drive reads it, the disc is bad) still fails, with a rewrite offered."""
    if not shutil.which("prlimit"):
        pytest.skip("needs prlimit")
    from rabtui.events import REWRITE
    from tests.test_checkpoint_deep import no_room_to_extract

    cfg, store, number, iso = verified_disc
    no_room_to_extract(monkeypatch)     # read back as a stream, with the listing of its entries
    judged = {}
    for builder, doing in READS.items():
        with monkeypatch.context() as limited:
            wrap_reader(limited, builder, ["prlimit", limit, "--"])
            q, state = _verify_again(cfg, store, number)
        if state != "verified" or REWRITE in q.choices or f"could not be verified: {said}" not in q.text \
                or doing not in q.text or "not the disc" not in q.text:
            judged[builder] = (state, q.text)
            store.execute("UPDATE discs SET state='verified' WHERE number=?", (number,))   # as it was, for the next
    assert not judged, (sorted(judged), judged)
    os.truncate(iso / f"RAB{number}D01.iso", 20 * 2048)
    q, state = _verify_again(cfg, store, number)
    assert state == "failed" and REWRITE in q.choices and "could not be verified" not in q.text, (state, q.text)
