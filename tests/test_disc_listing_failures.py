"""The verification's listing of a disc whose second xorriso run (each directory listed from a
command file) ends midway, killed or cancelled, never gives a partial listing; its command file,
in a temporary directory of its own, is removed whatever becomes of the run; a temporary directory
full or closed to writing has it list each entry by its path instead, all the same. Real xorriso."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading

import pytest

from rabtui.checkpoint import disc_listing, verify_listing
from rabtui.checkpoint.verify_result import VerifyResult
from rabtui.checkpoint.xorriso_output import MachineFailed
from rabtui.errors import Cancelled
from tests import fidelity
from tests.procs import signalled
from tests.trees import HOSTILE_NAMES, write_files


def _image(tmp_path) -> str:
    tree = tmp_path / "tree"
    # more lines than a pipe holds: its xorriso still runs as its first directories are read
    write_files(tree, {name + b"/" + b"f%d" % i: b"x" for name in HOSTILE_NAMES for i in range(3)})
    write_files(tree, {b"many/" + b"f%04d" % i: b"" for i in range(2000)})
    iso = str(tmp_path / "RAB1D01.iso")
    subprocess.run(["xorriso", "-no_rc", "-for_backup", "-volid", "RAB1D01", "-outdev", f"stdio:{iso}",
                    "-map", str(tree), "/", "-commit"], check=True, capture_output=True)
    return iso


@pytest.fixture
def temp(tmp_path, monkeypatch):
    """The temporary directory, this test's own."""
    t = tmp_path / "tmp"
    t.mkdir(mode=0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(t))
    return t


def _command_file_runs() -> list[int]:
    """The pids of this process's xorriso children reading a command file."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                ppid = int(f.read().rpartition(b")")[2].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and b"-options_from_file" in cmdline:
            pids.append(int(pid))
    return pids


def _listing(iso, cancel=None):
    res = VerifyResult(volid="RAB1D01")
    return verify_listing.listing("xorriso", f"stdio:{iso}", "RAB1D01", res, cancel, None, {}, {}), res


@pytest.mark.parametrize("end", ["killed", "cancelled"])
def test_a_listing_ended_midway_is_none_and_its_command_file_gone(tmp_path, temp, monkeypatch, end):
    iso = _image(tmp_path)
    cancel = threading.Event()
    seen: list[bytes] = []
    take = disc_listing.Listing.take

    def ending(self, line):    # at the listing's second directory, its xorriso ended
        if line.rstrip(b"\r\n") == disc_listing.MARK and seen.count(disc_listing.MARK) == 1:
            assert os.listdir(temp), "the command file's directory"
            if end == "killed":
                pids = _command_file_runs()
                assert pids
                for pid in pids:
                    signalled(pid, signal.SIGKILL)
            else:
                cancel.set()
        seen.append(line.rstrip(b"\r\n"))
        take(self, line)

    monkeypatch.setattr(disc_listing.Listing, "take", ending)
    with pytest.raises(MachineFailed if end == "killed" else Cancelled):
        _listing(iso, cancel)
    assert seen.count(disc_listing.MARK) >= 2
    assert os.listdir(temp) == []


def test_a_listing_whose_directories_end_early_is_none(tmp_path, temp, monkeypatch):
    """xorriso ending well having listed fewer directories than it named: no listing."""
    iso = _image(tmp_path)
    real = disc_listing.command_file
    monkeypatch.setattr(verify_listing.disc_listing, "command_file", lambda start, dirs: real(start, dirs[:-1]))
    listing, res = _listing(iso)
    assert listing is None and "ended early" in " ".join(res.messages), res.messages
    assert os.listdir(temp) == []


@pytest.mark.parametrize("room", ["full", "read-only"])
def test_a_temporary_directory_without_room_lists_each_entry_by_its_path(tmp_path, temp, monkeypatch, room):
    if not fidelity.is_root():
        pytest.skip("needs root to mount a file system")
    iso = _image(tmp_path)
    whole, _ = _listing(iso)
    assert whole is not None and os.listdir(temp) == []
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k,nr_inodes=64", "rabtui-test", str(temp)], check=True)
    try:
        os.chmod(temp, 0o755)
        if room == "full":
            filled = subprocess.run(["dd", "if=/dev/zero", f"of={temp}/filler", "bs=4k"], capture_output=True)
            assert b"No space left" in filled.stderr, filled.stderr
        else:
            subprocess.run(["mount", "-o", "remount,ro", str(temp)], check=True)
        runs: list[list[str]] = []
        real = verify_listing.disc_tree.run
        monkeypatch.setattr(verify_listing.disc_tree, "run", lambda argv, **k: runs.append(argv) or real(argv, **k))
        listing, res = _listing(iso)
        assert listing == whole, res.messages
        assert "lsdl" in runs[-1], runs
        assert [n for n in os.listdir(temp) if n != "filler"] == []
    finally:
        subprocess.run(["umount", str(temp)], check=True)


def test_a_temporary_directory_of_an_odd_name_holds_the_command_file(tmp_path, monkeypatch):
    """Its path given to xorriso as a program argument (not decoded: bytes not UTF-8, a backslash,
    quotes, spaces), the command file is read all the same."""
    iso = _image(tmp_path)
    odd = os.path.join(os.fsencode(tmp_path), b"t\xff\\x41 \"'mp")
    os.mkdir(odd, 0o755)
    runs: list[list[str]] = []
    real = verify_listing.disc_tree.run
    monkeypatch.setattr(verify_listing.disc_tree, "run", lambda argv, **k: runs.append(argv) or real(argv, **k))
    whole, res = _listing(iso)
    monkeypatch.setattr(tempfile, "tempdir", os.fsdecode(odd))
    listing, res = _listing(iso)
    assert listing == whole and listing is not None, res.messages
    assert "-options_from_file" in runs[-1] and os.fsdecode(odd) in runs[-1][runs[-1].index("-options_from_file") + 1]
    assert os.listdir(odd) == []


@pytest.mark.parametrize("where", [b"/gone", b"/many/f0001"])
def test_a_directory_its_listing_cannot_enter_fails_it(tmp_path, temp, monkeypatch, where):
    """A directory named by the first run that the second cannot `-cd` into (not on the disc, a
    file there): the listing fails, said, rather than list another directory's entries as its."""
    iso = _image(tmp_path)
    take = disc_listing.Names.take

    def named_too(self, line):
        take(self, line)
        if self.dirs == [b"/"]:      # named right after the root
            self.dirs.append(where)

    monkeypatch.setattr(disc_listing.Names, "take", named_too)
    listing, res = _listing(iso)
    assert listing is None and "listing the disc failed (exit" in " ".join(res.messages), res.messages
    assert os.listdir(temp) == []
