"""A checkpoint number is never given twice, even after the state database is lost while the
discs of the checkpoints are away (a real burner's discs on a shelf: rebuild-state reads none of
them): each medium keeps the numbers used (`.rabtui-checkpoints`), and a new checkpoint is
numbered after them, so no two sets of discs carry the same volume ids."""

from __future__ import annotations

import json
import os
import shutil

from tests.test_rebuild_odd_records import ROOT, _rabtui
from tests.trees import Lab, write_files
from tests import preloaded


def _lab(tmp_path, media_count: int = 1) -> Lab:
    lab = Lab(tmp_path, media_count=media_count)
    lab.with_discs("4MiB")
    (tmp_path / "iso").mkdir()
    write_files(lab.src / "data", {"a": b"one"})
    return lab


def _burn(lab) -> None:
    done = _rabtui(lab, "checkpoint", "burn", "--now", "--yes", "--new")
    assert done.returncode == 0, done.stdout + done.stderr


def _discs_to_shelf(lab, shelf) -> set[str]:
    """The written discs leave the images folder (as discs of a burner leave the drive)."""
    shelf.mkdir(exist_ok=True)
    names = set(os.listdir(lab.tmp / "iso"))
    for name in names:
        shutil.move(lab.tmp / "iso" / name, shelf / name)
    return names


def test_a_checkpoint_after_a_lost_state_and_rebuild_state_takes_a_new_number(tmp_path):
    lab = _lab(tmp_path)
    assert _rabtui(lab, "backup", "loc").returncode == 0
    _burn(lab)
    _burn(lab)
    shelf = _discs_to_shelf(lab, tmp_path / "shelf")
    assert shelf == {"RAB1D01.iso", "RAB2D01.iso"}
    assert json.loads((lab.media[0][1] / ".rabtui-checkpoints").read_text()) == {"used": [1, 2]}
    shutil.rmtree(lab.state)                 # the server's disk is lost

    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "checkpoint numbers used before (discs not read): up to 2" in done.stdout, done.stdout
    _burn(lab)
    assert os.listdir(tmp_path / "iso") == ["RAB3D01.iso"]


def test_a_checkpoint_on_a_new_state_without_rebuild_state_takes_a_new_number(tmp_path):
    lab = _lab(tmp_path)
    assert _rabtui(lab, "backup", "loc").returncode == 0
    _burn(lab)
    _discs_to_shelf(lab, tmp_path / "shelf")
    shutil.rmtree(lab.state)
    assert _rabtui(lab, "backup", "loc").returncode == 0    # cron, on a new state database
    _burn(lab)
    assert os.listdir(tmp_path / "iso") == ["RAB2D01.iso"]


def test_the_numbers_reach_every_medium_of_the_rotation_through_its_backups(tmp_path):
    """m2 was away when checkpoint 1 was numbered; its next backup writes the numbers onto it.
    Then the state is lost, and only m2 is at hand."""
    lab = _lab(tmp_path, media_count=2)
    for medium in ("m1", "m2"):
        assert _rabtui(lab, "backup", "loc", "--medium", medium).returncode == 0
    m1, m2 = lab.media[0][1], lab.media[1][1]
    m2.rename(tmp_path / "m2-away")
    m2.mkdir()
    _burn(lab)
    assert not (m2 / ".rabtui-checkpoints").exists()
    m2.rmdir()
    (tmp_path / "m2-away").rename(m2)
    assert _rabtui(lab, "backup", "loc", "--medium", "m2").returncode == 0
    assert json.loads((m2 / ".rabtui-checkpoints").read_text()) == {"used": [1]}
    assert oct((m2 / ".rabtui-checkpoints").stat().st_mode & 0o777) == "0o600"

    _discs_to_shelf(lab, tmp_path / "shelf")
    shutil.rmtree(lab.state)
    m1.rename(tmp_path / "m1-away")
    m1.mkdir()
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 3, done.stdout + done.stderr     # m1 not found
    (tmp_path / "m1-away").rename(tmp_path / "m1-gone")
    _burn(lab)
    assert os.listdir(tmp_path / "iso") == ["RAB2D01.iso"]


def test_rebuild_state_keeps_the_numbers_the_database_it_replaces_knew(tmp_path):
    """Media written before they kept the numbers (no `.rabtui-checkpoints` yet), the state
    directory's checkpoint folders cleared, the discs away: the database rebuild-state replaces
    still tells which numbers were used."""
    lab = _lab(tmp_path)
    assert _rabtui(lab, "backup", "loc").returncode == 0
    _burn(lab)
    _discs_to_shelf(lab, tmp_path / "shelf")
    (lab.media[0][1] / ".rabtui-checkpoints").unlink()
    shutil.rmtree(lab.state / "checkpoints")

    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 0, done.stdout + done.stderr
    _burn(lab)
    assert os.listdir(tmp_path / "iso") == ["RAB2D01.iso"]


def test_a_record_edited_by_hand_gives_only_numbers_a_checkpoint_can_have(tmp_path):
    """A volume id is RAB<checkpoint>D<nn> in at most 32 characters, and SQLite holds 64-bit
    integers: what else a record holds is no checkpoint number of rabtui's."""
    from rabtui.media.checkpoint_numbers import read_record

    (tmp_path / ".rabtui-checkpoints").write_text(json.dumps({"used": [10 ** 40, 2 ** 63, "7", -1, True, 0, 3]}))
    assert read_record(tmp_path) == {3}


def test_a_new_state_numbers_after_the_images_of_an_images_drive(tmp_path):
    """Media written before they kept the numbers, the state lost and not rebuilt: the images
    folder still holds the discs written, and a new checkpoint is numbered after them (it took 1,
    and its burn stopped at the image of that name)."""
    lab = _lab(tmp_path)
    assert _rabtui(lab, "backup", "loc").returncode == 0
    _burn(lab)
    (lab.media[0][1] / ".rabtui-checkpoints").unlink()
    shutil.rmtree(lab.state)
    assert _rabtui(lab, "backup", "loc").returncode == 0
    _burn(lab)
    assert sorted(os.listdir(tmp_path / "iso")) == ["RAB1D01.iso", "RAB2D01.iso"]


def test_records_written_at_once_and_after_a_killed_writer(tmp_path):
    """Backups of several sources onto one medium run as threads of one process, each writing the
    record at its step 2; a writer killed before its rename leaves its temporary file, and a later
    process may get the same pid."""
    import threading

    from rabtui.media.checkpoint_numbers import read_record, write_record

    (tmp_path / f".rabtui-checkpoints.tmp-{os.getpid()}").write_text("left by a killed writer")
    write_record(tmp_path, [1])
    start = threading.Barrier(8)
    failed = []

    def write(n: int) -> None:
        start.wait()
        try:
            write_record(tmp_path, [1, 2, n])
        except OSError as exc:
            failed.append(exc)

    threads = [threading.Thread(target=write, args=(10 + k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failed, failed
    assert {1, 2} <= read_record(tmp_path)


def test_a_real_burner_after_a_lost_state_with_no_disc_at_hand(tmp_path):
    """The drive is a real burner: rebuild-state asks on the terminal for one disc of each
    checkpoint, and the operator, whose discs are away, answers skip. The next checkpoint is
    numbered after the one the medium names."""
    import pty
    import sys

    from rabtui.actions.checkpoint import asked_dirs
    from rabtui.checkpoint import prepare
    from rabtui.state.store import Store
    from tests.test_cli_prompt_terminal import _until

    lab = _lab(tmp_path)
    assert _rabtui(lab, "backup", "loc").returncode == 0
    _burn(lab)                                     # its image stands for the disc on the shelf
    shutil.rmtree(lab.state)
    burner = "/dev/sr-rabtui-test"
    lab.config_path.write_text(lab.config_path.read_text().replace(f'"images:{tmp_path / "iso"}"', f'"{burner}"'))
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(ROOT)
        os.execv(sys.executable, [sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "rebuild-state"])
    out = bytearray()
    try:
        assert _until(fd, pid, b"answer skip when done", out), out.decode(errors="replace")
        assert _until(fd, pid, b": ", out), out.decode(errors="replace")
        os.write(fd, b"skip\n")
        _until(fd, pid, None, out)
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = out.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "checkpoint numbers used before (discs not read): up to 1" in text, text

    cfg = lab.load()
    store = Store(lab.state)
    try:
        number = prepare.record(cfg, store, prepare.compute(cfg, store, asked=asked_dirs(cfg, store, [])),
                                drive=burner)
        assert number == 2
        assert [r["volid"] for r in store.all("SELECT volid FROM discs WHERE number=?", (number,))] == ["RAB2D01"]
    finally:
        store.close()


def test_a_fifo_or_a_symlink_planted_as_the_record_is_neither_waited_on_nor_followed(tmp_path):
    """A FIFO in the record's place held a backup at its step 2 (and a checkpoint's numbering) for
    ever, its locks with it; a symlink was read through (to /dev/zero: all memory). Neither is a
    record: the next write replaces it, and what a symlink points at is left as it was."""
    import subprocess
    import sys

    fifo = tmp_path / "fifo-medium"
    fifo.mkdir()
    os.mkfifo(fifo / ".rabtui-checkpoints")
    linked = tmp_path / "link-medium"
    linked.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text(json.dumps({"used": [50]}))
    (linked / ".rabtui-checkpoints").symlink_to(elsewhere)
    code = ("import sys; from rabtui.media.checkpoint_numbers import read_record, write_record\n"
            "for medium in sys.argv[1:]:\n"
            "    print(sorted(read_record(medium)))\n"
            "    write_record(medium, [3])\n")
    done = preloaded.run([sys.executable, "-c", code, str(fifo), str(linked)], cwd=ROOT, capture_output=True,
                         text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "[]"]
    for medium in (fifo, linked):
        record = medium / ".rabtui-checkpoints"
        assert record.is_file() and not record.is_symlink()
        assert json.loads(record.read_text()) == {"used": [3]}
    assert json.loads(elsewhere.read_text()) == {"used": [50]}


def test_numbers_written_at_once_by_several_processes_are_all_kept(tmp_path):
    """A checkpoint numbered in one process while backups onto the same medium write the record in
    others: each read the record, added its numbers and put its own in place, so the number
    written between a read and its rename was lost from the medium."""
    import sys

    code = ("import sys; from rabtui.media.checkpoint_numbers import write_record\n"
            "k = int(sys.argv[2])\n"
            "for n in range(40): write_record(sys.argv[1], [1 + k * 40 + n])\n")
    writers = [preloaded.Popen([sys.executable, "-c", code, str(tmp_path), str(k)], cwd=ROOT) for k in range(6)]
    assert [w.wait(timeout=120) for w in writers] == [0] * 6
    from rabtui.media.checkpoint_numbers import read_record

    assert read_record(tmp_path) == set(range(1, 241))


def test_discs_burnt_in_another_images_folder_are_read_by_rebuild_state_given_it(tmp_path):
    """A checkpoint burnt with `--drive images:OTHER` (not the configured drive): after the state is
    lost, rebuild-state reads the configured drive only, and says how to read the others; given
    `--drive images:OTHER`, it reads and verifies them there again, and the checkpoint is known
    again: a file is restored from it."""
    lab = _lab(tmp_path)
    assert _rabtui(lab, "backup", "loc").returncode == 0
    (tmp_path / "other").mkdir()
    done = _rabtui(lab, "checkpoint", "burn", "--now", "--yes", "--new", "--drive", f"images:{tmp_path / 'other'}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert os.listdir(tmp_path / "other") == ["RAB1D01.iso"]
    shutil.rmtree(lab.state)

    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("checkpoint numbers used before (discs not read): up to 1; a new checkpoint is numbered after it;"
            " discs burnt in another drive are read with rabtui rebuild-state --drive DRIVE") in done.stdout, done.stdout
    done = _rabtui(lab, "rebuild-state", "--drive", f"images:{tmp_path / 'othr'}")     # mistyped: refused, said
    assert done.returncode == 2 and f"there is no folder {tmp_path / 'othr'}" in done.stderr, done.stderr
    done = _rabtui(lab, "rebuild-state", "--drive", f"images:{tmp_path / 'other'}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "checkpoints: 1 (" in done.stdout and "discs verified again: RAB1D01" in done.stdout, done.stdout
    assert "discs not read" not in done.stdout, done.stdout
    assert _rabtui(lab, "restore", "loc", str(lab.src / "data" / "a"), "--checkpoint", "1", "--to",
                   str(tmp_path / "back")).returncode == 0
    assert (tmp_path / "back" / str(lab.src / "data" / "a").lstrip("/")).read_bytes() == b"one"
