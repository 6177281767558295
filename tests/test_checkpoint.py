"""Checkpoints of real backups onto `images:` drives with real xorriso: layout, read-back, split
files, hostile names, filler, corruption, the wrong disc, abort and resume, max_discs."""

from __future__ import annotations

import gzip

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path


from rabtui.media import medium_layout
from rabtui.checkpoint import layout, prepare, questions, run, triggers
from rabtui.cli import main as cli_main
from rabtui.events import ABORT, READY, REWRITE, SKIP, ScriptedPrompter
from tests.trees import HOSTILE_NAMES, Lab, hostile_tree, write_files

DISC = "4MiB"


def _lab(tmp_path, *, max_discs: int = 64):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs(DISC, [("data", "standard"), ("other", "archive")], f"max_discs = {max_discs}\n")
    return lab, cfg


def _fill(lab: Lab) -> None:
    write_files(lab.src / "data", {f"f{i}": 700_000 for i in range(6)})
    write_files(lab.src / "data", {"big/huge.bin": 7_500_000})       # larger than a 4 MiB disc
    hostile_tree(lab.src / "data" / "names")
    os.makedirs(lab.src / "data" / "empty dir")
    os.symlink("f1", lab.src / "data" / "link")
    write_files(lab.src / "other", {"o1": 1000, "sub/o2": 2000})


def _not_due(store, path) -> None:
    """Make a directory recently checkpointed, so that it is a filler candidate."""
    store.execute("UPDATE dir_state SET last_checkpoint=0, last_checkpoint_time=?, changed_since_checkpoint=0"
                  " WHERE path=?", (time.time() - 3600, str(path)))


def _events():
    seen = []
    return seen, seen.append


def _record(lab, cfg, store):
    c = prepare.compute(cfg, store)
    return prepare.record(cfg, store, c, drive=cfg.checkpoint.drive)


def _burn(lab, cfg, store, number, answers):
    seen, emit = _events()
    prompter = ScriptedPrompter(answers)
    res = run.burn_checkpoint(cfg, store, number, emit=emit, cancel=threading.Event(), prompter=prompter)
    return res, prompter, seen


def _extract(iso: Path, target: Path) -> None:
    subprocess.run(["xorriso", "-no_rc", "-osirrox", "on", "-indev", f"stdio:{iso}", "-extract", "/", str(target)],
                   check=True, capture_output=True)
    for dirpath, dirs, _ in os.walk(target):
        for d in dirs:
            os.chmod(os.path.join(dirpath, d), 0o755)


def _medium_tree(root: Path) -> dict[bytes, bytes]:
    out = {}
    base = os.fsencode(root)
    for dirpath, dirs, names in os.walk(base):
        for n in names:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, base)
            out[rel] = os.readlink(p) if os.path.islink(p) else open(p, "rb").read()
        for d in dirs:
            p = os.path.join(dirpath, d)
            if not os.listdir(p):
                out[os.path.relpath(p, base) + b"/"] = b""
    return out


def _disc_tree(discs: list[Path], prefix: bytes) -> dict[bytes, bytes]:
    """The union of `prefix` over extracted discs, parts concatenated back (as `cat NAME.part*`)."""
    out: dict[bytes, bytes] = {}
    parts: dict[bytes, list[tuple[bytes, bytes]]] = {}
    for disc in discs:
        base = os.path.join(os.fsencode(disc), prefix)
        if not os.path.isdir(base):
            continue
        for dirpath, dirs, names in os.walk(base):
            for n in names:
                p = os.path.join(dirpath, n)
                rel = os.path.relpath(p, base)
                data = os.readlink(p) if os.path.islink(p) else open(p, "rb").read()
                if b".part" in n and n[-6:-3] == b"-of":
                    parts.setdefault(rel[:-len(b".part01-of-03")], []).append((n, data))
                else:
                    out[rel] = data
            for d in dirs:
                p = os.path.join(dirpath, d)
                if not os.listdir(p):
                    out.setdefault(os.path.relpath(p, base) + b"/", b"")
    for rel, pieces in parts.items():
        out[rel] = b"".join(data for _, data in sorted(pieces))
    return out


def test_checkpoint_of_a_real_backup_spans_discs_and_reads_back(tmp_path):
    lab, cfg = _lab(tmp_path)
    _fill(lab)
    backup = lab.backup(cfg)
    assert backup.status == "completed"
    store = lab.store()
    _not_due(store, lab.src / "other")
    sts = {s.path: s for s in triggers.statuses(cfg, store)}
    assert sts[str(lab.src / "data")].due and "never checkpointed" in sts[str(lab.src / "data")].reasons
    assert not sts[str(lab.src / "other")].due

    number = _record(lab, cfg, store)
    cp = store.one("SELECT * FROM checkpoints WHERE number=?", (number,))
    assert cp["discs"] >= 3 and cp["discs"] == cp["lower_bound"]
    res, prompter, seen = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message
    assert res.verified == list(range(1, cp["discs"] + 1))
    first = prompter.asked[0]
    assert first.kind == questions.INSERT
    assert first.text.startswith(f"Insert blank disc 1 of {cp['discs']} for checkpoint {number}, volume RAB{number}D01, 4MiB")
    assert f"into images:{tmp_path / 'iso'}" in first.text
    states = {r["state"] for r in store.all("SELECT state FROM discs WHERE number=?", (number,))}
    assert states == {"verified"}

    # every disc: README.txt, rabtui/ with config, database and the catalog of the whole checkpoint
    extracted = []
    catalog_text = (prepare.checkpoint_dir(cfg, number) / "catalog.tsv").read_text()
    for k in range(1, cp["discs"] + 1):
        iso = tmp_path / "iso" / f"RAB{number}D{k:02d}.iso"
        assert iso.stat().st_size <= 2048 * 2048   # fits the 4 MiB disc
        out = tmp_path / f"x{k}"
        _extract(iso, out)
        extracted.append(out)
        readme = (out / "README.txt").read_text()
        assert f"Disc {k} of {cp['discs']}, volume id RAB{number}D{k:02d}" in readme
        assert "cat NAME.part[0-9][0-9]-of-MM > NAME" in readme
        assert gzip.decompress((out / "rabtui" / "catalog.tsv.gz").read_bytes()).decode() == catalog_text
        assert not (out / "rabtui" / "catalog.tsv").exists()
        assert (out / "rabtui" / "rabtui.toml").read_bytes() == lab.config_path.read_bytes()
        assert (out / "rabtui" / "rabtui.db").stat().st_size > 0
    # the filler: add/1 = the archive directory, mapped in the README of its disc
    filler_disc = [p for p in extracted if (p / "add" / "1").is_dir()]
    assert len(filler_disc) == 1
    assert f"add/1  =  loc:{lab.src / 'other'}" in (filler_disc[0] / "README.txt").read_text()
    archive = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "other"))
    assert _disc_tree(filler_disc, b"add/1") == _medium_tree(archive)

    # byte for byte: the discs hold exactly the backup on the medium, split file and hostile names included
    data_root = medium_layout.backup_data_path(backup.path, str(lab.src / "data"))
    prefix = b"data/loc/" + os.fsencode(str(lab.src / "data")).lstrip(b"/")
    on_discs = _disc_tree(extracted, prefix)
    assert on_discs == _medium_tree(data_root)
    assert on_discs[b"big/huge.bin"] == (lab.src / "data/big/huge.bin").read_bytes()
    # restored whole with plain tools, as README.txt says: copy the parts together, cat NAME.part*
    together = tmp_path / "together"
    together.mkdir()
    for disc in extracted:
        for part in (disc / os.fsdecode(prefix) / "big").glob("huge.bin.part*"):
            shutil.copy(part, together / part.name)
    assert len(list(together.iterdir())) >= 2
    subprocess.run(["sh", "-c", "cat huge.bin.part* > huge.bin"], cwd=together, check=True)
    assert (together / "huge.bin").read_bytes() == (lab.src / "data/big/huge.bin").read_bytes()
    for name in HOSTILE_NAMES:
        assert on_discs[b"names/" + name].endswith(name)
    huge_parts = [r for r in store.all("SELECT disc, part, parts FROM disc_files WHERE number=? AND part IS NOT NULL"
                                       " ORDER BY part", (number,))]
    assert len(huge_parts) >= 2 and [r["part"] for r in huge_parts] == list(range(1, len(huge_parts) + 1))
    assert [r["disc"] for r in huge_parts] == list(range(huge_parts[0]["disc"], huge_parts[0]["disc"] + len(huge_parts)))

    # the catalog lists every file with its sha256, hostile names escaped on one line each
    rows = layout.parse_catalog(catalog_text)
    assert len(rows) == store.one("SELECT COUNT(*) FROM disc_files WHERE number=?", (number,))[0]
    names = {path for _, path, _, _, _ in rows}
    for name in HOSTILE_NAMES:
        assert prefix + b"/names/" + name in names

    # the checkpoint resets its directory's trigger
    row = store.one("SELECT * FROM dir_state WHERE path=?", (str(lab.src / "data"),))
    assert (row["changed_since_checkpoint"], row["last_checkpoint"], row["did_not_fit"]) == (0, number, None)
    assert not {s.path: s for s in triggers.statuses(cfg, store)}[str(lab.src / "data")].due


def _flip_in_file(iso: Path, needle: bytes) -> None:
    data = bytearray(iso.read_bytes())
    i = data.find(needle)
    assert i > 0
    data[i + 3] ^= 0x01
    iso.write_bytes(bytes(data))


def test_verify_finds_a_flipped_byte_and_refuses_the_wrong_disc(tmp_path):
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {"a.txt": b"marker-AAAA " * 5000, "b.bin": 1_500_000, "c.bin": 1_500_000,
                                   "d.bin": 1_500_000})
    write_files(lab.src / "other", {"o": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    res, _, _ = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed" and len(res.verified) >= 2
    iso1 = tmp_path / "iso" / f"RAB{number}D01.iso"
    _flip_in_file(iso1, b"marker-AAAA marker-AAAA")

    seen, emit = _events()
    prompter = ScriptedPrompter([READY, SKIP])
    out = run.verify_checkpoint(cfg, store, number, disc=1, emit=emit, cancel=threading.Event(), prompter=prompter)
    assert out.status == "incomplete" and out.skipped == [1]
    asked = prompter.asked[0].text     # the disc as written, not a blank one of some size
    assert asked.startswith(f"Insert written disc 1 of {len(res.verified)} for checkpoint {number}") and "MB" not in asked
    failed_q = prompter.asked[1]
    assert failed_q.kind == questions.FAILED and REWRITE in failed_q.choices
    assert "a.txt" in failed_q.text and "differ" in failed_q.text
    assert store.one("SELECT state FROM discs WHERE number=? AND disc=1", (number,))["state"] == "failed"

    # rewrite on a new disc: written and verified again
    prompter = ScriptedPrompter([READY, REWRITE, READY])
    out = run.verify_checkpoint(cfg, store, number, disc=1, emit=emit, cancel=threading.Event(), prompter=prompter)
    assert out.verified == [1], out.message
    assert store.one("SELECT state FROM discs WHERE number=? AND disc=1", (number,))["state"] == "verified"

    # the wrong disc in a burner: disc 2 put in where disc 1 was asked for; disc 1 stays verified
    burner = tmp_path / "burner.iso"
    shutil.copy(tmp_path / "iso" / f"RAB{number}D02.iso", burner)
    prompter = ScriptedPrompter([READY, ABORT])
    out = run.verify_checkpoint(cfg, store, number, disc=1, drive=f"stdio:{burner}", emit=emit,
                                cancel=threading.Event(), prompter=prompter)
    assert out.status == "aborted"
    wrong = prompter.asked[1]
    assert wrong.kind == questions.WRONG and f"RAB{number}D02, not RAB{number}D01" in wrong.text
    assert store.one("SELECT state FROM discs WHERE number=? AND disc=1", (number,))["state"] == "verified"
    # an image replaced by another disc's: the image is the disc, and disc 1 is gone
    shutil.copy(tmp_path / "iso" / f"RAB{number}D02.iso", iso1)
    prompter = ScriptedPrompter([READY, ABORT])
    out = run.verify_checkpoint(cfg, store, number, disc=1, emit=emit, cancel=threading.Event(), prompter=prompter)
    assert out.status == "aborted"
    failed_q = prompter.asked[1]
    assert failed_q.kind == questions.FAILED and f"{iso1} holds disc RAB{number}D02" in failed_q.text
    assert store.one("SELECT state FROM discs WHERE number=? AND disc=1", (number,))["state"] == "failed"

    # from the command line, disc 2 is still good
    code = cli_main(["--config", str(lab.config_path), "checkpoint", "verify", str(number), "--disc", "2", "--yes"])
    assert code == 0

    # from cron or a detached job nobody answers for the failed disc: the run fails and says so
    events = tmp_path / "events.jsonl"
    script = tmp_path / "alert.py"
    script.write_text(f"import sys\nopen({str(events)!r}, 'a').write(sys.stdin.read())\n")
    lab.config_path.write_text(lab.config_path.read_text().replace(
        "[[media]]", f'[notify]\ncommand = "{sys.executable} {script}"\n\n[[media]]', 1))
    code = cli_main(["--config", str(lab.config_path), "checkpoint", "verify", str(number), "--disc", "1", "--yes"])
    assert code == 1
    sent = [json.loads(line) for line in events.read_text().splitlines()]
    assert [(e["kind"], e["level"]) for e in sent] == [("checkpoint_failed", "failed")]
    assert "no terminal to ask on" in sent[0]["message"]
    assert f"holds disc RAB{number}D02" in sent[0]["message"]


def test_abort_after_disc_two_then_resume(tmp_path):
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {f"f{i}": 1_000_000 for i in range(10)})
    write_files(lab.src / "other", {"o": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    n = store.one("SELECT discs FROM checkpoints WHERE number=?", (number,))["discs"]
    assert n >= 4
    res, prompter, _ = _burn(lab, cfg, store, number, [READY, READY, ABORT])
    assert res.status == "aborted" and res.verified == [1, 2]
    assert "resume" in res.message
    assert store.one("SELECT status FROM checkpoints WHERE number=?", (number,))["status"] == "aborted"
    states = [r["state"] for r in store.all("SELECT state FROM discs WHERE number=? ORDER BY disc", (number,))]
    assert states[:3] == ["verified", "verified", "planned"]
    iso1 = tmp_path / "iso" / f"RAB{number}D01.iso"
    before = (iso1.stat().st_mtime_ns, iso1.stat().st_ino)

    # then the process is killed while writing disc 3: a half-written image, the disc `writing`
    res, _, _ = _burn(lab, cfg, store, number, [READY, ABORT])
    assert res.verified == [1, 2, 3]
    store.execute("UPDATE discs SET state='writing' WHERE number=? AND disc=4", (number,))
    store.execute("UPDATE checkpoints SET status='burning' WHERE number=?", (number,))
    (tmp_path / "iso" / f"RAB{number}D04.iso").write_bytes(b"\0" * 70000)
    iso3 = tmp_path / "iso" / f"RAB{number}D03.iso"
    before3 = (iso3.stat().st_mtime_ns, iso3.stat().st_ino)

    # resume from the command line: starts at disc 3, never touches the verified discs
    code = cli_main(["--config", str(lab.config_path), "checkpoint", "resume", "--yes"])
    assert code == 0
    assert (iso1.stat().st_mtime_ns, iso1.stat().st_ino) == before
    assert (iso3.stat().st_mtime_ns, iso3.stat().st_ino) == before3
    states = {r["state"] for r in store.all("SELECT state FROM discs WHERE number=?", (number,))}
    assert states == {"verified"}
    assert store.one("SELECT status FROM checkpoints WHERE number=?", (number,))["status"] == "completed"
    job = store.one("SELECT * FROM jobs WHERE kind='checkpoint' ORDER BY id DESC LIMIT 1")
    assert job["status"] == "completed" and job["target"] == f"images:{tmp_path / 'iso'}"
    # nothing left to resume
    assert cli_main(["--config", str(lab.config_path), "checkpoint", "resume", "--yes"]) == 2


def test_too_many_discs_refused_before_anything_is_written(tmp_path, capsys):
    lab, cfg = _lab(tmp_path, max_discs=2)
    write_files(lab.src / "data", {f"f{i}": 1_000_000 for i in range(10)})
    assert lab.backup(cfg).status == "completed"
    code = cli_main(["--config", str(lab.config_path), "checkpoint", "burn", "--yes"])
    assert code == 2
    err = capsys.readouterr().err
    assert "more than max_discs = 2" in err and "nothing was written" in err
    store = lab.store()
    assert store.one("SELECT COUNT(*) FROM checkpoints")[0] == 0
    assert not (tmp_path / "iso").exists() or not list((tmp_path / "iso").iterdir())


def test_status_and_plan_commands(tmp_path, capsys):
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {"a": 5000})
    write_files(lab.src / "other", {"b": 6000})
    assert cli_main(["--config", str(lab.config_path), "checkpoint", "status"]) == 0
    out = capsys.readouterr().out
    assert "no complete backup yet" in out
    assert lab.backup(cfg).status == "completed"
    assert cli_main(["--config", str(lab.config_path), "checkpoint", "status"]) == 0
    out = capsys.readouterr().out
    assert out.count("never checkpointed") == 2 and out.count("DUE") == 2, out     # said once of each
    store = lab.store()
    _not_due(store, lab.src / "data")
    _not_due(store, lab.src / "other")
    assert cli_main(["--config", str(lab.config_path), "checkpoint", "status", "--json"]) == 0
    import json

    data = json.loads(capsys.readouterr().out)
    assert all(not d["due"] for d in data["directories"])
    assert cli_main(["--config", str(lab.config_path), "checkpoint", "plan"]) == 2
    key = f"loc:{lab.src / 'data'}"
    assert cli_main(["--config", str(lab.config_path), "checkpoint", "plan", "--now", key, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["discs"] == 1 and plan["directories"][0]["key"] == key
    assert plan["directories"][0]["reasons"] == ["asked by the operator"]
    assert plan["filler"] and plan["filler"][0]["key"] == f"loc:{lab.src / 'other'}"
    # the request is remembered: status shows it due until a checkpoint holds it
    sts = {s.key: s for s in triggers.statuses(cfg, store)}
    assert sts[key].due and sts[key].reasons == ["asked by the operator"]
    assert cli_main(["--config", str(lab.config_path), "checkpoint", "plan", "--now", "loc:/nope"]) == 2
    assert cli_main(["--config", str(lab.config_path), "checkpoint", "burn", "--yes"]) == 0
    assert not {s.key: s for s in triggers.statuses(cfg, store)}[key].due


def test_checkpoint_status_shows_its_drive_escaped(tmp_path, capsys):
    """A drive folder named with an escape sequence (`--drive images:...`) is shown escaped."""
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {"f": 10})
    write_files(lab.src / "other", {"o": 10})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    prepare.record(cfg, store, prepare.compute(cfg, store), drive=f"images:{tmp_path}/i\033[31mso")
    assert cli_main(["--config", str(lab.config_path), "checkpoint", "status"]) == 0
    out = capsys.readouterr().out
    assert "\033" not in out and "i\\033[31mso" in out, out


def test_plan_from_list(tmp_path, capsys):
    listing = tmp_path / "list"
    listing.write_bytes(b"".join(b"%d /srv/x/f%d\n" % (1_000_000, i) for i in range(30)))
    assert cli_main(["checkpoint", "plan", "--from-list", str(listing), "--disc", "cd-700", "--json"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    assert out["discs"] == out["lower_bound"] == 1 and out["files"] == 30
    listing.write_bytes(b"1000000 /srv/x/f\n")
    assert cli_main(["checkpoint", "plan", "--from-list", str(listing), "--disc", "cd-700"]) == 0
    assert "1 disc of cd-700" in (text := capsys.readouterr().out) and "; 1 file," in text, text
    listing.write_bytes(b"".join(b"%d /srv/x/f%d\n" % (1_000_000, i) for i in range(30)))
    assert cli_main(["checkpoint", "plan", "--from-list", str(listing)]) == 2
    listing.write_bytes(b"12 a\nnot a line\n")
    assert cli_main(["checkpoint", "plan", "--from-list", str(listing), "--disc", "cd-700"]) == 2
    assert "line 2" in capsys.readouterr().err


def test_detached_burn_answers_its_prompts_through_the_database(tmp_path):
    from rabtui.state import jobs

    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {f"f{i}": 1_000_000 for i in range(4)})
    write_files(lab.src / "other", {"o": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    drive = cfg.checkpoint.drive
    job_id = jobs.start_detached(store, lab.config_path, "checkpoint", drive, "checkpoint", ["checkpoint", "burn"])
    asked = []
    deadline = time.time() + 120
    while time.time() < deadline:
        job = store.one("SELECT * FROM jobs WHERE id=?", (job_id,))
        if job["status"] in jobs.FINAL_STATES:
            break
        for p in jobs.open_prompts(store, job_id):
            asked.append(p["text"])
            jobs.answer(store, p["id"], READY)
        time.sleep(0.1)
    job = store.one("SELECT * FROM jobs WHERE id=?", (job_id,))
    assert job["status"] == "completed", (job["status"], job["summary"])
    number = store.one("SELECT MAX(number) FROM checkpoints")[0]
    n = store.one("SELECT discs FROM checkpoints WHERE number=?", (number,))["discs"]
    assert len(asked) == n >= 2 and asked[0].startswith(f"Insert blank disc 1 of {n} for checkpoint {number}")
    kinds = {r["kind"] for r in store.all("SELECT kind FROM events WHERE job_id=?", (job_id,))}
    assert {"disc", "result"} <= kinds


def test_burn_refuses_while_a_checkpoint_is_unfinished(tmp_path, capsys):
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {f"f{i}": 1_000_000 for i in range(5)})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    res, _, _ = _burn(lab, cfg, store, number, [READY, ABORT])
    assert res.status == "aborted"
    assert cli_main(["--config", str(lab.config_path), "checkpoint", "burn", "--yes"]) == 2
    assert f"checkpoint {number} is not finished" in capsys.readouterr().err
    # verify says which discs were never written, and does not mark them failed
    out = run.verify_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                                prompter=ScriptedPrompter(lambda q: READY))
    assert out.verified == [1] and 2 in out.skipped
    assert store.one("SELECT state FROM discs WHERE number=? AND disc=2", (number,))["state"] == "planned"
    assert cli_main(["--config", str(lab.config_path), "checkpoint", "burn", "--yes", "--new", "--now"]) == 0
    assert store.one("SELECT MAX(number) FROM checkpoints")[0] == number + 1


def test_a_write_failed_for_a_file_removed_since_the_plan_is_skipped_then_resumed(tmp_path):
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {f"f{i}": 1_000_000 for i in range(5)})
    write_files(lab.src / "other", {"o": b"x"})
    backup = lab.backup(cfg)
    store = lab.store()
    number = _record(lab, cfg, store)
    # a file of disc 1 vanishes from the medium after the plan: the disc cannot be written (no
    # rewrite offered: a new disc would meet the same backup) until it is put back
    victim = medium_layout.backup_data_path(backup.path, str(lab.src / "data")) / "f0"
    saved, was = victim.read_bytes(), victim.stat()
    victim.unlink()
    res, prompter, seen = _burn(lab, cfg, store, number, [READY, SKIP, READY, READY, READY])
    failed = prompter.asked[1]
    assert failed.kind == questions.FAILED and tuple(failed.choices) == ("retry", "skip", "abort")
    assert "Writing disc 1" in failed.text and "removed from the backup on the medium" in failed.text
    assert res.status == "incomplete" and res.exit_code == 1 and res.skipped == [1] and 1 not in res.verified
    assert "not verified" in res.message and "resume" in res.message
    assert store.one("SELECT state FROM discs WHERE number=? AND disc=1", (number,))["state"] == "failed"
    victim.write_bytes(saved)     # put back as it was backed up: its time and mode too
    os.utime(victim, ns=(was.st_atime_ns, was.st_mtime_ns))
    victim.chmod(was.st_mode)
    res, _, _ = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed" and 1 in res.verified


def test_burner_path_on_xorriso_stdio_pseudo_drive(tmp_path):
    """The real-burner code path (blank check, -close on, verify, eject) against xorriso's stdio:
    pseudo drive: each new "blank disc" is a file that does not exist yet."""
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {f"f{i}": 1_000_000 for i in range(5)})
    write_files(lab.src / "other", {"o": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    disc_file = tmp_path / "burner.iso"
    drive = f"stdio:{disc_file}"
    written = []

    def operator(q):
        if q.kind == questions.INSERT and "not blank" not in q.text and disc_file.exists():
            return READY            # forgets to change the disc: refused as not blank
        if disc_file.exists():
            written.append(disc_file.read_bytes()[16 * 2048 + 40:16 * 2048 + 72].strip())
            disc_file.unlink()      # a new blank disc
        return READY

    prompter = ScriptedPrompter(operator)
    res = run.burn_checkpoint(cfg, store, number, drive=drive, emit=lambda e: None, cancel=threading.Event(),
                              prompter=prompter)
    assert res.status == "completed", res.message
    texts = [q.text for q in prompter.asked]
    assert any("is not blank" in t for t in texts)
    assert all(f"into {drive}" in t for t in texts if t.startswith("Insert"))
    assert written == [f"RAB{number}D01".encode()]   # disc 1 was taken out before disc 2 went in
    assert store.one("SELECT drive FROM checkpoints WHERE number=?", (number,))["drive"] == drive
