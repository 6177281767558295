"""A medium that lost files of a backup since it was made (an fsck that moved them to lost+found,
a hand that removed them, another server's cleanup): a restore from it names each file the catalog
says the backup holds and the medium no longer has, instead of reporting the tree restored whole.
Real backups (rsync)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from rabtui.cli import main
from tests.trees import Lab, write_files


def test_files_the_medium_lost_are_named_not_passed_over(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    data = lab.src / "data"
    write_files(data, {"a/1": b"1", "b/2": b"2", "b/3": b"3", "c/4": b"4"})
    backup = lab.backup(cfg)
    assert backup.status == "completed"
    on_medium = Path(backup.path) / "data" / str(data).lstrip("/")
    os.unlink(on_medium / "b" / "3")
    shutil.rmtree(on_medium / "c")
    args = ["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(tmp_path / "out"), "--json"]
    code = main(args)
    got = json.loads(capsys.readouterr().out)
    assert code == 3, got
    lost = sorted(n["path"] for n in got["not_restored"])
    assert lost == [str(data / "b" / "3").lstrip("/"), str(data / "c" / "4").lstrip("/")], got
    assert "not on medium m1" in got["not_restored"][0]["why"]
    assert (tmp_path / "out" / str(data).lstrip("/") / "a" / "1").read_bytes() == b"1"


def test_a_file_the_medium_loses_while_the_restore_runs_is_named_in_a_line(tmp_path, capsys, monkeypatch):
    """The medium loses a file of a directory being restored after the restore listed it (before
    it reached it): the restore names it and fails, never a traceback."""
    from rabtui.restore.write import SafeWriter

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    data = lab.src / "data"
    write_files(data, {"d/1": b"1", "d/2": b"2", "d/3": b"3"})
    backup = lab.backup(cfg)
    on_medium = Path(backup.path) / "data" / str(data).lstrip("/")
    real_file = SafeWriter._file

    def losing(self, *args):
        if (on_medium / "d" / "3").exists():      # while the restore writes d/1
            os.unlink(on_medium / "d" / "3")
        return real_file(self, *args)

    monkeypatch.setattr(SafeWriter, "_file", losing)
    code = main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert f"error: {str(data).lstrip('/')}/d/3: could not be read: No such file or directory" in out, out


def test_the_check_lists_each_directory_once_and_names_what_each_lost(tmp_path, capsys, monkeypatch):
    """The check costs a listing of each directory, not a look-up of each file by its path (with
    110,000 files about 1 s of a restore's start): a file gone, a name that is not UTF-8 gone, a
    directory put back as a file of its name, a directory gone whole, each named."""
    from rabtui.restore import as_saved

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    data = lab.src / "data"
    files = {f"d{d:02d}/f{f:03d}": b"x" for d in range(20) for f in range(20)}
    write_files(data, files)
    odd = os.fsencode(str(data / "d00")) + b"/caf\xe9\x1b"
    Path(os.fsdecode(odd)).write_bytes(b"odd")
    backup = lab.backup(cfg)
    on_medium = Path(backup.path) / "data" / str(data).lstrip("/")
    os.unlink(on_medium / "d01" / "f007")
    os.unlink(os.fsencode(str(on_medium / "d00")) + b"/caf\xe9\x1b")
    shutil.rmtree(on_medium / "d02")
    shutil.rmtree(on_medium / "d03")
    (on_medium / "d03").write_bytes(b"not a directory")
    counts = {"lstat": 0, "listdir": 0, "checking": False}

    def counted(name, real):
        def call(*args, **kw):
            counts[name] += counts["checking"]
            return real(*args, **kw)
        return call

    def checking(*args, **kw):
        counts["checking"] = True
        try:
            return real_check(*args, **kw)
        finally:
            counts["checking"] = False

    real_check = as_saved.lost_on_medium
    monkeypatch.setattr(as_saved, "lost_on_medium", checking)
    monkeypatch.setattr(os, "lstat", counted("lstat", os.lstat))
    monkeypatch.setattr(os, "listdir", counted("listdir", os.listdir))
    code = main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(tmp_path / "out"),
                 "--json"])
    got = json.loads(capsys.readouterr().out)
    assert code == 3, got
    top = str(data).lstrip("/")
    lost = sorted(os.fsencode(n["path"]) for n in got["not_restored"] if "not on medium m1" in n["why"])
    assert lost == sorted([os.fsencode(f"{top}/d01/f007"), os.fsencode(top) + b"/d00/caf\xe9\x1b"]
                          + [os.fsencode(f"{top}/d{d:02d}/f{f:03d}") for d in (2, 3) for f in range(20)])
    assert counts["lstat"] + counts["listdir"] <= 20 + 2, counts


def planted(tmp_path):
    """(lab, config, the source's directory): a backup of a/1, b/2 and c/3 whose b/2 is now a
    symlink to a file elsewhere and whose c a symlink to a directory elsewhere."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    data = lab.src / "data"
    write_files(data, {"a/1": b"1", "b/2": b"2", "c/3": b"3"})
    backup = lab.backup(cfg)
    elsewhere = tmp_path / "elsewhere"
    write_files(elsewhere, {"2": b"of the server", "c/3": b"of the server"})
    on_medium = Path(backup.path) / "data" / str(data).lstrip("/")
    os.unlink(on_medium / "b" / "2")
    os.symlink(elsewhere / "2", on_medium / "b" / "2")
    shutil.rmtree(on_medium / "c")
    os.symlink(elsewhere / "c", on_medium / "c")
    return lab, cfg, data


def test_a_symlink_in_place_of_a_file_or_a_directory_on_the_medium_is_no_file_of_the_backup(tmp_path, capsys):
    """Root put a symlink to a file of the backup server in place of a file of the backup, and a
    symlink to a directory of the same names in place of one of its directories: the restore names
    the files as lost (the listing followed the symlinks and found them there), and leaves the
    symlinks out (test_restore_planted_in_place.py)."""
    lab, cfg, data = planted(tmp_path)
    out = tmp_path / "out"
    code = main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(out), "--json"])
    got = json.loads(capsys.readouterr().out)
    assert code == 3, got
    assert sorted(n["path"] for n in got["not_restored"]) == [str(data / "b/2").lstrip("/"),
                                                               str(data / "c/3").lstrip("/")], got
    top = out / str(data).lstrip("/")
    assert (top / "a/1").read_bytes() == b"1"
    assert not os.path.lexists(top / "b/2") and not os.path.lexists(top / "c"), sorted(os.listdir(top))
    assert got["restored"]["symlinks"] == 0, got


def test_a_file_the_medium_holds_at_another_size_than_the_backup_saved_is_named_not_restored(tmp_path, capsys):
    """A crash after the backup completed left files of it empty (their data never reached the
    disk), or someone wrote into one in place: the medium holds it at another size than the one
    the catalog says the backup saved. The restore names it and leaves it out (exit 3), in a
    directory as alone (exit 1), never handing it back as the file that was saved."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    data = lab.src / "data"
    write_files(data, {"a/1": b"one", "a/2": b"two", "b/3": b"three"})
    backup = lab.backup(cfg)
    assert backup.status == "completed"
    on_medium = Path(backup.path) / "data" / str(data).lstrip("/")
    for name, size in (("a/2", 0), ("b/3", 2)):
        st = os.stat(on_medium / name)
        os.truncate(on_medium / name, size)
        os.utime(on_medium / name, ns=(st.st_atime_ns, st.st_mtime_ns))
    _named_and_left_out(lab, capsys, data, {"a/1": b"one"}, "0 bytes on medium m1, where backup", "b/3",
                        "2 bytes on medium m1, where backup")


def _named_and_left_out(lab, capsys, data, kept: dict, why: str, alone: str, why_alone: str) -> None:
    """A restore of `data` from the medium that names a/2 and b/3 as not restored (the first with
    `why`), leaves them out and gives back `kept`; and one of `alone` that fails saying `why_alone`."""
    out = lab.tmp / "out"
    code = main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(out), "--json"])
    got = json.loads(capsys.readouterr().out)
    assert code == 3, got
    top = str(data).lstrip("/")
    assert sorted(n["path"] for n in got["not_restored"]) == [f"{top}/a/2", f"{top}/b/3"], got
    assert why in got["not_restored"][0]["why"], got
    assert {rel: (out / top / rel).read_bytes() for rel in kept} == kept
    assert not (out / top / "a/2").exists() and not (out / top / "b/3").exists()
    code = main(["--config", str(lab.config_path), "restore", "loc", str(data / alone), "--to", str(lab.tmp / "o2")])
    err = capsys.readouterr().err
    assert code == 1 and why_alone in err and "Traceback" not in err, err
    assert not (lab.tmp / "o2" / top / alone).exists()


def test_a_file_written_into_in_place_on_the_medium_its_size_kept_is_named_not_restored(tmp_path, capsys):
    """A file of the backup written into in place on the medium, its size kept (its time is now),
    or another file of its size hard-linked in its place (`ln -f`): on a medium that keeps times to
    the nanosecond its mtime is not the one the catalog says the backup saved. The restore names it
    and leaves it out (exit 3), in a directory as alone (exit 1), as a checkpoint's plan refuses it,
    never handing it back as the file saved."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    data = lab.src / "data"
    write_files(data, {"a/1": b"one", "a/2": b"two", "b/3": b"333", "c/4": b"444"})
    os.utime(data / "a/2", (1_577_836_800, 1_577_836_800))      # 2020-01-01
    os.utime(data / "c/4", (1_609_459_200, 1_609_459_200))      # 2021-01-01
    backup = lab.backup(cfg)
    assert backup.status == "completed"
    on_medium = Path(backup.path) / "data" / str(data).lstrip("/")
    with open(on_medium / "a/2", "r+b") as f:
        f.write(b"TWO")
    os.unlink(on_medium / "b/3")
    os.link(on_medium / "c/4", on_medium / "b/3")
    _named_and_left_out(lab, capsys, data, {"a/1": b"one", "c/4": b"444"},
                        "where backup " + backup.path.name + " saved it as of 2020-01-01 00:00:00 UTC", "a/2",
                        "saved it as of 2020-01-01 00:00:00 UTC")


def test_a_file_the_medium_cuts_short_while_the_restore_runs_is_named_not_restored(tmp_path, capsys, monkeypatch):
    """A file of the backup cut short on the medium after the restore checked the directory (while
    it writes the files before it): named and left out (exit 3), as one found so at the start."""
    from rabtui.restore.write import SafeWriter

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    data = lab.src / "data"
    write_files(data, {"d/1": b"1", "d/2": b"2" * 100_000})
    backup = lab.backup(cfg)
    on_medium = Path(backup.path) / "data" / str(data).lstrip("/")
    real_file = SafeWriter._file

    def cutting(self, *args):
        if os.path.getsize(on_medium / "d" / "2") == 100_000:      # while the restore writes d/1
            os.truncate(on_medium / "d" / "2", 10)
        return real_file(self, *args)

    monkeypatch.setattr(SafeWriter, "_file", cutting)
    out = tmp_path / "out"
    code = main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(out), "--json"])
    got = json.loads(capsys.readouterr().out)
    assert code == 3, got
    top = str(data).lstrip("/")
    assert [(n["path"], n["why"][:30]) for n in got["not_restored"]] == [(f"{top}/d/2", "10 bytes on medium m1, where b")]
    assert (out / top / "d/1").read_bytes() == b"1"
    assert not (out / top / "d/2").exists()


def test_a_file_cut_short_after_it_was_looked_at_is_not_padded_with_zeros(tmp_path):
    """Cut short between the look at its size and the copy: an error, never a whole-looking file
    whose end is zeros."""
    from rabtui.filecopy import copy_sparse

    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(b"x" * 100_000)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        os.truncate(src, 10)
        with pytest.raises(OSError, match="shorter than its size"):
            copy_sparse(fin.fileno(), fout.fileno(), 100_000)


def test_onto_an_ssh_source_a_file_of_another_size_on_the_medium_is_left_out(tmp_path, sshd):
    """Onto the source over SSH (where rsync sends the backup's tree as it is), a file the medium
    holds at another size than the backup saved is left out and named too; the others come back."""
    from rabtui.restore import run as R

    lab, cfg, remote, backup = _backed_up_over_ssh(tmp_path, sshd)
    on_medium = Path(backup.path) / "data" / str(remote).lstrip("/")
    os.truncate(on_medium / "a/2", 0)
    shutil.rmtree(remote / "a")
    res = R.restore(cfg, lab.store(), "web", str(remote), to_source=True)
    assert (remote / "a/1").read_bytes() == b"one"
    assert not (remote / "a/2").exists()
    assert [(n.rsplit(b"/", 2)[-2:], why[:28]) for _, n, why in res.written.not_restored] == \
        [([b"a", b"2"], "0 bytes on medium m1, where ")]


def test_onto_an_ssh_source_a_file_written_into_in_place_on_the_medium_is_left_out(tmp_path, sshd):
    """Onto the source over SSH, a file the medium holds at its size but another mtime (written into
    in place) is left out and named too, not sent by rsync as the backup's."""
    from rabtui.restore import run as R

    lab, cfg, remote, backup = _backed_up_over_ssh(tmp_path, sshd)
    on_medium = Path(backup.path) / "data" / str(remote).lstrip("/")
    os.utime(on_medium / "a/2", (1_577_836_800, 1_577_836_800))
    shutil.rmtree(remote / "a")
    res = R.restore(cfg, lab.store(), "web", str(remote), to_source=True)
    assert (remote / "a/1").read_bytes() == b"one"
    assert not (remote / "a/2").exists()
    assert [(n.rsplit(b"/", 2)[-2:], why[:35]) for _, n, why in res.written.not_restored] == \
        [([b"a", b"2"], "modified at 2020-01-01 00:00:00 UTC")]


def test_an_archive_file_the_medium_holds_at_another_size_is_named_and_the_rest_restored(tmp_path, capsys):
    """An archive directory (photos) of which the medium holds one file emptied since (a crash, a
    hand): its restore names that file and gives back the others, as one of a standard directory;
    restored alone, it fails saying so."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("photos", "archive")])
    photos = lab.src / "photos"
    write_files(photos, {"a/1.jpg": b"one" * 100, "a/2.jpg": b"two" * 100})
    backup = lab.backup(cfg)
    assert backup.status == "completed"
    on_medium = Path(backup.path) / "data" / str(photos).lstrip("/")
    st = os.stat(on_medium / "a/2.jpg")
    os.truncate(on_medium / "a/2.jpg", 0)           # the union's name is the same file
    os.utime(on_medium / "a/2.jpg", ns=(st.st_atime_ns, st.st_mtime_ns))
    out = tmp_path / "out"
    code = main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--to", str(out), "--json"])
    got = capsys.readouterr()
    assert code == 3, got.err
    top = str(photos).lstrip("/")
    assert [n["path"] for n in json.loads(got.out)["not_restored"]] == [f"{top}/a/2.jpg"]
    assert (out / top / "a/1.jpg").read_bytes() == b"one" * 100
    assert not (out / top / "a/2.jpg").exists()
    code = main(["--config", str(lab.config_path), "restore", "loc", str(photos / "a/2.jpg"), "--to", str(tmp_path / "o2")])
    err = capsys.readouterr().err
    assert code == 1 and f"/{top}/a/2.jpg: 0 bytes on medium m1, where backup" in err and "Traceback" not in err, err
    assert not (tmp_path / "o2").exists()


def test_an_archive_file_not_as_saved_as_of_an_older_backup_or_the_newest_is_named_a_good_copy_still_taken(
        tmp_path, capsys):
    """Two backups of an archive directory: a file the first saved and the second changed, whose
    first copy the medium holds emptied, is named as of the first (exit 3) and comes back as the
    second saved it; one whose second copy (the union's) is emptied comes back from the first as it
    saved it, and is named as of the second; one the first saved alone, whose time was changed in
    place, is named as of both. Restored alone (as of the second: through the union), each fails."""
    from datetime import datetime, timedelta

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("photos", "archive")])
    photos = lab.src / "photos"
    write_files(photos, {"a/1.jpg": b"one" * 100, "a/2.jpg": b"two" * 100, "a/3.jpg": b"three" * 100,
                         "a/4.jpg": b"four"})
    t0 = datetime(2026, 3, 1, 2, 0, 0)
    b1 = lab.backup(cfg, now=t0)
    write_files(photos, {"a/2.jpg": b"TWO" * 50, "a/3.jpg": b"THREE" * 50})
    b2 = lab.backup(cfg, now=t0 + timedelta(days=1))
    assert (b1.status, b2.status) == ("completed", "completed")
    top = str(photos).lstrip("/")

    def damage(backup, name: str, size: int | None):
        path = Path(backup.path) / "data" / top / name
        st = os.stat(path)
        if size is None:         # written into in place at its size: another time
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 7 * 10**9))
        else:
            os.truncate(path, size)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    damage(b1, "a/1.jpg", None)
    damage(b1, "a/2.jpg", 0)
    damage(b2, "a/3.jpg", 0)       # the union's too: the same file

    def restored(what: str, *how: str):
        out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
        code = main(["--config", str(lab.config_path), "restore", "loc", str(photos / what), "--to", str(out),
                     "--json", *how])
        said = capsys.readouterr()
        got = json.loads(said.out) if said.out else {}
        files = {str(p.relative_to(out / top)): p.read_bytes() for p in (out / top).rglob("*") if p.is_file()}
        return code, {n["path"][len(top) + 1:]: n["why"] for n in got.get("not_restored", [])}, files, said.err

    code, named, files, _ = restored("", "--backup", b1.path.name)
    assert code == 3 and sorted(named) == ["a/1.jpg", "a/2.jpg"], named
    first, second = b1.path.name, b2.path.name
    assert named["a/1.jpg"].startswith(f"on medium m1 with another modification time than backup {first} saved")
    assert named["a/2.jpg"].startswith(f"0 bytes on medium m1, where backup {first} saved 300"), named
    assert files == {"a/3.jpg": b"three" * 100, "a/4.jpg": b"four"}
    code, named, files, _ = restored("")
    assert code == 3 and sorted(named) == ["a/1.jpg", "a/3.jpg"], named
    assert named["a/1.jpg"].startswith(f"on medium m1 with another modification time than backup {first} saved")
    assert named["a/3.jpg"].startswith(f"0 bytes on medium m1, where backup {second} saved 250"), named
    assert files == {"a/2.jpg": b"TWO" * 50, "a/4.jpg": b"four"}
    for what, how in (("a/1.jpg", ("--backup", second)), ("a/1.jpg", ()), ("a/2.jpg", ("--backup", first)),
                      ("a/3.jpg", ())):
        code, _, files, err = restored(what, *how)
        assert code == 1 and files == {} and "Traceback" not in err, (what, err)
        assert f"/{top}/{what}: " in err and " not restored as it is there now" in err, (what, err)
    assert restored("a/3.jpg", "--backup", first)[::2] == (0, {"a/3.jpg": b"three" * 100})


def _onto_source_losing(tmp_path, sshd, lost_below: str):
    """A restore onto the SSH source with --overwrite, `lost_below` the copy on the medium removed
    by the source's rsync_path as rsync starts (after the restore looked at the copy, before rsync
    lists it): (the restore's result or its WorkFailed, the removed path, the source's directory)."""
    from rabtui.errors import WorkFailed
    from rabtui.restore import run as R

    lab, cfg, remote, backup = _backed_up_over_ssh(tmp_path, sshd)
    lost = Path(backup.path) / "data" / str(remote).lstrip("/") / lost_below
    wrapper = tmp_path / "rsync-then"
    wrapper.write_text(f"#!/bin/sh\nrm -rf '{lost}'\nexec rsync \"$@\"\n")
    wrapper.chmod(0o755)
    lab.config_path.write_text(lab.config_path.read_text().replace(
        'user = ', f'rsync_path = "{wrapper}"\nuser = ', 1))
    shutil.rmtree(remote / "a")
    try:
        got = R.restore(lab.load(), lab.store(), "web", str(remote), to_source=True, overwrite=True)
    except WorkFailed as exc:
        got = exc
    assert not lost.exists()
    return got, lost, remote


def test_onto_an_ssh_source_a_file_the_medium_loses_while_rsync_starts_is_named(tmp_path, sshd):
    """Onto the source over SSH: a file the medium loses while the restore runs, before rsync lists
    it, is named as not restored, never passed over as restored."""
    res, _, remote = _onto_source_losing(tmp_path, sshd, "a/2")
    assert (remote / "a/1").read_bytes() == b"one"
    assert [(kind, n.rsplit(b"/", 2)[-2:], why) for kind, n, why in res.written.not_restored] == \
        [("file", [b"a", b"2"], "gone from the medium while it was restored (not sent)")]
    assert "1 not restored" in res.summary, res.summary


def test_onto_an_ssh_source_a_copy_the_medium_loses_whole_while_rsync_starts_is_said(tmp_path, sshd):
    """The whole copy gone (a medium pulled): the restore fails in a line naming what it did not
    send, never a traceback."""
    from rabtui.errors import WorkFailed

    err, _, remote = _onto_source_losing(tmp_path, sshd, "")
    assert isinstance(err, WorkFailed), err
    assert "rsync exit 23" in str(err) and "not restored" in str(err), str(err)
    assert not (remote / "a").exists()


def _backed_up_over_ssh(tmp_path, sshd):
    """(lab, config, the source's directory, its backup): a source over SSH holding a/1 and a/2,
    backed up once."""
    from tests.trees import ssh_source_lines

    lab = Lab(tmp_path, media_count=1)
    remote = tmp_path / "remote"
    write_files(remote, {"a/1": b"one", "a/2": b"two"})
    cfg = lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{remote}"\nkind = "standard"\n')
    lab.trust(sshd)
    backup = lab.backup(cfg, "web")
    assert backup.status == "completed"
    return lab, cfg, remote, backup
