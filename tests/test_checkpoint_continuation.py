"""Directories that xorriso 1.5.4 stops on (libisofs miscounts their Rock Ridge continuation areas:
checkpoint/continuation.py), with real backups, real xorriso and `images:` discs. One just under
is written and verified, its entries as they were; one over is refused when the checkpoint is
planned, by name, before any disc is asked for (`checkpoint plan` and `checkpoint burn` exit 2,
nothing recorded, no image); as a filler candidate it is left out and the checkpoint burns. And
the trial run that decides it says of mixed directories what xorriso says of them."""

from __future__ import annotations

import os
import random
import subprocess
import threading

import pytest

from rabtui.checkpoint import continuation, prepare, questions, run
from rabtui.checkpoint.xorriso import ISO_SETTINGS, Entry
from rabtui.cli import main as cli_main
from rabtui.errors import UsageError
from rabtui.events import LOG, READY, ScriptedPrompter
from tests.test_checkpoint import _not_due
from tests.test_checkpoint_plan_limits import _burn, _lab
from tests.trees import Lab, path_target, write_files


def _links(d, n):
    """n symlinks with 764-byte targets: three are written, four are not."""
    d.mkdir()
    for i in range(n):
        os.symlink(path_target(764), d / f"l{i:02d}")


def _names(d, n):
    """n files with 250-byte names: 19 are written, 20 are not."""
    write_files(d, {"%03d" % i + "n" * 247: b"x" for i in range(n)})


CASES = {"symlinks": (_links, 3), "names": (_names, 19)}


def _fill(make, n):
    def fill(d):
        make(d / "many", n)
        write_files(d, {"f": 1000})
    return fill


@pytest.mark.parametrize("case", CASES)
def test_a_directory_just_under_is_written_and_verified(tmp_path, case):
    make, under = CASES[case]
    cfg, store = _lab(tmp_path, "8MiB", _fill(make, under))
    _burn(tmp_path, cfg, store)
    [iso] = (tmp_path / "iso").glob("*.iso")
    many = tmp_path / "src" / "data" / "many"
    out = tmp_path / "out"
    subprocess.run(["xorriso", "-no_rc", "-osirrox", "on", "-indev", f"stdio:{iso}",
                    "-extract", f"/data/loc{many}", str(out)], check=True, capture_output=True)
    assert sorted(os.listdir(out)) == sorted(os.listdir(many))
    for name in os.listdir(many):
        if os.path.islink(many / name):
            assert os.readlink(out / name) == os.readlink(many / name)


@pytest.mark.parametrize("case", CASES)
def test_a_directory_over_is_refused_when_planned(tmp_path, case):
    make, under = CASES[case]
    cfg, store = _lab(tmp_path, "8MiB", _fill(make, under + 1))
    with pytest.raises(UsageError) as info:
        prepare.compute(cfg, store)
    assert f"xorriso cannot write directory '{tmp_path / 'src' / 'data' / 'many'}' on disc 1" in info.value.message
    assert "Calculated and written ECMA-119 tree end differ" in info.value.message
    assert "exclude" in info.value.hint and "subdirectory" in info.value.hint
    assert not list((tmp_path / "state" / "checkpoints").iterdir())   # the trial's skeleton is gone


def test_plan_and_burn_exit_2_before_a_disc_is_asked_for(tmp_path, capsys):
    cfg, store = _lab(tmp_path, "8MiB", _fill(_links, 4))
    for args in (["checkpoint", "plan"], ["checkpoint", "burn", "--yes"]):
        assert cli_main(["--config", str(cfg.path), *args]) == 2, args
        err = capsys.readouterr().err
        assert "xorriso cannot write directory" in err and "many" in err and "nothing was written" in err, err
        assert "Traceback" not in err
    assert store.one("SELECT COUNT(*) FROM checkpoints")[0] == 0
    assert store.one("SELECT COUNT(*) FROM prompts")[0] == 0
    assert not (tmp_path / "iso").exists() or not list((tmp_path / "iso").iterdir())


def test_a_filler_candidate_xorriso_would_stop_on_is_left_out(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("8MiB", [("data", "standard"), ("other", "standard")])
    write_files(lab.src / "data", {"f": 1000})
    write_files(lab.src / "other", {"o": b"x"})
    _links(lab.src / "other" / "many", 4)
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    _not_due(store, lab.src / "other")
    said = []
    c = prepare.compute(cfg, store, emit=said.append)
    assert c.summary()["filler"] == []
    assert any(e.kind == LOG and f"filler loc:{lab.src / 'other'} left out: xorriso cannot write its directory"
               in e.message for e in said), [e.message for e in said]
    _burn(tmp_path, cfg, store)


def test_the_trial_says_what_xorriso_says_of_the_directory_itself(tmp_path):
    """Mixed directories (symlinks with targets of every shape, names up to 255 bytes, xattrs
    and ACLs, subdirectories): continuation.check calls a directory unwritable exactly when
    xorriso, given the directory itself with a disc's settings, stops on it."""
    outcomes = []
    for seed in range(100, 116):
        r = random.Random(seed)
        d = tmp_path / f"d{seed}"
        d.mkdir()
        entries = [Entry("dir", os.fsencode(d), b"/data/x")]
        for i in range(r.choice([20, 40, 60])):
            kind = r.choice(["link", "link", "link", "name", "attr", "dir"])
            name = ("%03d" % i + "n" * r.choice([3, 20, 60, 120, 200, 250]))[:255]
            p = d / name
            if kind == "link":
                os.symlink("/".join(["c" * r.choice([1, 8, 30, 100])] * r.randint(1, 20))[:1000], p)
            elif kind == "dir":
                p.mkdir()
                if r.random() < 0.5:
                    os.setxattr(p, "user.d", b"v" * r.randint(1, 300))
            else:
                p.write_bytes(b"x")
                if kind == "attr":
                    os.setxattr(p, "user.a", b"v" * r.randint(1, 500))
                    if r.random() < 0.5:
                        subprocess.run(["setfacl", "-m", "u:nobody:r", str(p)], check=True)
            entries.append(Entry("dir" if kind == "dir" else "file", os.fsencode(p), b"/data/x/" + name.encode()))
        real = subprocess.run(["xorriso", "-no_rc", "-abort_on", "FAILURE", *ISO_SETTINGS, "-outdev", "stdio:/dev/null",
                               "-map", str(d), "/data/x", "-commit", "-end"], capture_output=True, text=True)
        stops = continuation.MISCOUNT in real.stdout + real.stderr
        assert stops or real.returncode == 0, real.stderr[-500:]
        found = continuation.check(entries, tmp_path, None)
        assert not found.untried
        assert (b"/data/x" in found.bad) == stops, seed
        outcomes.append(stops)
    assert 0 < sum(outcomes) < len(outcomes)


def test_a_checkpoint_planned_before_the_check_is_stopped_before_its_disc_is_begun(tmp_path, monkeypatch):
    """A checkpoint recorded by an earlier rabtui, whose plan did not try its directories: the
    directory xorriso would stop on is found when the disc is staged, before anything is written."""
    cfg, store = _lab(tmp_path, "8MiB", _fill(_links, 4))
    with monkeypatch.context() as m:   # the plan as an earlier rabtui made it
        m.setattr(continuation, "unwritable", lambda *a, **k: [])
        c = prepare.compute(cfg, store)
    number = prepare.record(cfg, store, c, drive=cfg.checkpoint.drive)
    prompter = ScriptedPrompter(lambda q: READY if q.kind == questions.INSERT else "abort")
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(), prompter=prompter)
    assert res.status != "completed"
    [failed] = [q.text for q in prompter.asked if q.kind != questions.INSERT]
    assert "xorriso cannot write directory" in failed and "many" in failed, failed
    assert "planned before" in failed and f"checkpoint abandon {number}" in failed, failed
    assert not (tmp_path / "iso").exists() or not list((tmp_path / "iso").glob("*.iso"))
    assert store.one("SELECT state FROM discs WHERE number=? AND disc=1", (number,))["state"] == "failed"


def test_the_trial_counts_the_acl_and_xattrs_a_part_of_a_cut_file_carries(tmp_path):
    """Three symlinks (targets of 900, 223 and 764 bytes) and then a part of a cut file: xorriso
    writes the directory when the part has no xattrs, and stops on it when the part carries the
    file's four 240-byte ones, as its disc's command file gives them; the trial says so."""
    from rabtui.checkpoint import cut_attrs, xorriso

    big = tmp_path / "big"
    big.write_bytes(b"x" * 10_000)
    d = tmp_path / "d"
    d.mkdir()
    entries = [Entry("dir", os.fsencode(d), b"/data/x")]
    for i, length in enumerate((900, 223, 764)):
        os.symlink(path_target(length), d / f"l{i}")
        entries.append(Entry("file", os.fsencode(d / f"l{i}"), b"/data/x/l%d" % i))
    entries.append(Entry("cut", os.fsencode(big), b"/data/x/z.part01-of-02", 0, 5000))

    def stops() -> bool:
        cut_attrs.prepare(entries, tmp_path / "lists")
        cmdfile = tmp_path / "cmds"
        cmdfile.write_text(xorriso.command_file("T", entries), encoding="ascii")
        real = subprocess.run(xorriso.trial_argv("xorriso", str(cmdfile)), capture_output=True, text=True)
        assert continuation.MISCOUNT in real.stdout + real.stderr or real.returncode == 0, real.stderr[-500:]
        return real.returncode != 0

    assert not stops() and continuation.check(entries, tmp_path).bad == {}
    for k in range(4):
        os.setxattr(big, f"user.v{k}", b"v" * 240)
    assert stops()
    assert b"/data/x" in continuation.check(entries, tmp_path).bad
