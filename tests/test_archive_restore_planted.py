"""A symlink planted on the way to an archive directory's union (`<source>`, `.archive`, the union
itself) or to a backup's copy of it (its `data/` or a directory above the copy): no restore, and
no Browse listing, reads anything through it (this server's own files, where it points); a restore
says what it found and fails. Standard directories had that check (medium_layout.symlink_to_copy);
an archive's restore read the union, and the backup's copy, wherever such a symlink led. Real
rsync, the real `rabtui` process."""

from __future__ import annotations

import os

import pytest

from rabtui.actions import archive_view
from rabtui.state.catalog import rel_path
from rabtui.cli import main
from tests.test_kill_anywhere import _files
from tests.test_planted_symlinks_on_medium import _plant
from tests.trees import Lab, config_text, snapshot


@pytest.mark.parametrize("where", ["source", "archive", "union", "data"])
def test_an_archive_restore_reads_nothing_through_a_planted_symlink(tmp_path, capsys, where):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("arch", "archive")])
    arch = str(lab.src / "arch")
    _files(lab.src / "arch", {"x": b"x1"})
    assert lab.backup(cfg).status == "completed"
    _files(lab.src / "arch", {"y": b"y2"})
    assert lab.backup(cfg).status == "completed"      # x is in the union only as of this one
    store = lab.store()
    newest = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    if where == "data":      # the backup's data/ leads to a copy of it, with this server's files there
        data = os.path.join(newest["path"], "data")
        elsewhere = tmp_path / "elsewhere" / "data"
        os.renames(data, elsewhere)
        os.symlink(elsewhere, data)
    else:
        elsewhere = _plant(lab, where, cfg.media[0].path)
    # what this server holds there: other contents of the same sizes and times, a symlink to its secrets
    for top, _, names in os.walk(elsewhere):
        for name in set(names) & {"x", "y"}:
            st = os.stat(os.path.join(top, name))
            with open(os.path.join(top, name), "wb") as f:
                f.write(b"S!")
            os.utime(os.path.join(top, name), (st.st_mtime, st.st_mtime))
            if not os.path.lexists(os.path.join(top, "server-link")):
                os.symlink("/etc/shadow", os.path.join(top, "server-link"))
    before = snapshot(elsewhere)

    for what in (arch, arch + "/y", arch + "/x"):
        out = tmp_path / "out" / os.path.basename(what)
        code = main(["--config", str(lab.config_path), "restore", "loc", what, "--to", str(out)])
        said = capsys.readouterr()
        got = snapshot(out) if out.exists() else {}
        assert not any(v == b"S!" for v in got.values()) and not any(b"server-link" in k for k in got), (what, got)
        if what != arch + "/x":     # x: from the older backup, which holds it
            assert code != 0 and "is a symlink, which rabtui never makes" in said.err, (what, said)
    assert snapshot(elsewhere) == before

    # Browse: the backup's listing of the directory names nothing of what is there
    try:
        listed = archive_view.listing(cfg, store, "loc", newest, rel_path(arch))
    except OSError as exc:
        assert "is a symlink, which rabtui never makes" in str(exc)
    else:
        assert listed is not None and b"server-link" not in listed[2], listed
    # nor is the merged view of a `.archive` reached through one offered
    merged = archive_view.merged_root(cfg.media[0].path, "loc")
    assert (merged is None) == (where in ("source", "archive")), merged


def test_browse_lists_nothing_through_a_symlink_planted_in_place_of_a_backups_data(tmp_path):
    """Browse lists a backup's tree part by part from its data/, following no symlink below: one
    planted in place of data/ (or of the source's directory) was followed, and its listing showed
    this server's files. It is said as a directory that cannot be read."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    _files(lab.src / "data", {"a": b"a1"})
    backup = lab.backup(cfg)
    server = tmp_path / "server"
    _files(server, {"secret": b"S!"})
    data = backup.path / "data"
    os.rename(data, tmp_path / "aside")
    os.symlink(server, data)
    store = lab.store()
    row = store.one("SELECT * FROM backups")
    for rel in (b"", rel_path(str(lab.src / "data"))):
        with pytest.raises(OSError, match="is a symlink, which rabtui never makes"):
            archive_view.listing(cfg, store, "loc", row, rel)


def _plant_copy(lab: Lab, tmp_path, row, below_data: str) -> str:
    """The older backup's `data/` (or a directory below it on the way to the archive's files)
    made a symlink to a copy elsewhere, whose files have the sizes and times the catalog records
    but this server's contents: the path of that copy."""
    at = os.path.join(row["path"], "data", below_data.strip("/")) if below_data else os.path.join(row["path"], "data")
    elsewhere = str(tmp_path / "elsewhere" / "copy")
    os.makedirs(os.path.dirname(elsewhere))
    os.rename(at, elsewhere)
    os.symlink(elsewhere, at)
    for top, _, names in os.walk(elsewhere):
        for name in names:
            path = os.path.join(top, name)
            st = os.lstat(path)
            os.unlink(path)     # another file (the union's is a hard link to the one saved)
            with open(path, "wb") as f:
                f.write(b"S" * st.st_size)
            os.utime(path, (st.st_mtime, st.st_mtime))
    return elsewhere


@pytest.mark.parametrize("below_data", ["", "above"])
def test_a_file_an_older_backup_saved_is_read_through_no_symlink_planted_in_its_copy(tmp_path, capsys, below_data):
    """A restore of a backup reads a file the backup had from the older backup that saved it where
    the union holds a newer version: that backup's data/ (or a directory on the way below it) was
    reached through a planted symlink, and this server's file where it pointed was restored when
    its size and time were those the catalog records. Now the file is named as not restored, with
    the symlink, and nothing of this server's is read; the restore of the newer file still works."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("arch", "archive")])
    arch = str(lab.src / "arch")
    _files(lab.src / "arch", {"x": b"x1", "sub/z": b"z1"})
    assert lab.backup(cfg).status == "completed"          # saves x and sub/z
    _files(lab.src / "arch", {"y": b"y2"})
    assert lab.backup(cfg).status == "completed"          # has x and sub/z as the first saved them
    _files(lab.src / "arch", {"x": b"x333", "sub/z": b"z333"})
    assert lab.backup(cfg).status == "completed"          # the union holds these now
    store = lab.store()
    first, second, _ = store.all("SELECT * FROM backups ORDER BY id")
    rel = os.path.relpath(arch, "/")
    elsewhere = _plant_copy(lab, tmp_path, first, rel.split("/")[0] if below_data else "")
    before = snapshot(elsewhere)
    assert any(v.startswith(b"S") for v in before.values())

    for what in (arch, arch + "/x", arch + "/sub"):
        out = tmp_path / "out" / os.path.basename(what)
        code = main(["--config", str(lab.config_path), "restore", "loc", what, "--backup", second["name"],
                     "--to", str(out)])
        said = capsys.readouterr()
        got = snapshot(out) if out.exists() else {}
        assert not any(v.startswith(b"S") for v in got.values()), (what, got, said)
        assert code != 0 and "is a symlink, which rabtui never makes" in said.out + said.err, (what, code, said)
        if what == arch:
            assert got[os.fsencode(rel) + b"/y"] == b"y2", got      # its own file is restored
    assert snapshot(elsewhere) == before


def test_what_only_kept_data_saved_is_read_through_no_symlink_planted_in_its_copy(tmp_path, capsys):
    """A kept backup's symlinks, special files and empty directories (which the union lacks) are
    read from its tree for a restore of a newer backup: its data/ made a symlink to a directory of
    this server, that directory's symlinks and empty directories were restored, and Browse listed
    them. Now nothing is read there, the restore names the symlink and fails."""
    lab, photos, data = _kept_data_planted(tmp_path)
    store = lab.store()
    newest = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")

    out = tmp_path / "out"
    code = main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--backup", newest["name"],
                 "--to", str(out)])
    said = capsys.readouterr()
    got = {name for _, dirs, names in os.walk(out) for name in dirs + names}
    assert not got & {"server-link", "server-dir"}, (got, said)
    assert "first.jpg" in got, got
    assert code != 0 and "is a symlink, which rabtui never makes" in said.out + said.err, (code, said)
    # Browse's listing of the backup names none of them either, and says what it left out, naming
    # the symlink (it was left out in silence), as does the merged view of the medium's union
    told: list[str] = []
    names, _, _ = archive_view.listing(lab.load(), store, "loc", newest, rel_path(str(photos)), told)
    assert not {b"server-link", b"server-dir"} & set(names) and b"first.jpg" in names, names
    assert any(data in said and "is a symlink, which rabtui never makes" in said for said in told), told
    merged: list[str] = []
    extra = archive_view.merged_extra(lab.load(), store, "loc", newest["medium"], rel_path(str(photos)), merged)
    assert not {b"server-link", b"server-dir"} & set(extra) and any(data in said for said in merged), merged
    _browse_says(lab, newest, rel_path(str(photos)), data)


def _kept_data_planted(tmp_path):
    """A kept backup whose symlink the union lacks, its data/ then made a symlink to a directory
    of this server holding a symlink to /etc/shadow and an empty directory: (lab, the archive
    directory, the planted data/)."""
    from tests.test_kept_entries_attacks import _kept, _lab

    lab = _lab(tmp_path)
    photos = lab.src / "photos"

    def add(root: bytes) -> list[bytes]:
        os.symlink(b"first.jpg", os.path.join(root, b"ln"))
        return [os.path.join(root, b"ln")]

    _kept(lab, photos, add)
    kept = lab.store().one("SELECT * FROM backups WHERE status='kept'")
    server = tmp_path / "server"
    where = server / str(photos).lstrip("/")
    where.mkdir(parents=True)
    os.symlink("/etc/shadow", where / "server-link")
    (where / "server-dir").mkdir()
    data = os.path.join(kept["path"], "data")
    os.rename(data, tmp_path / "aside")
    os.symlink(server, data)
    return lab, photos, data


def _browse_says(lab: Lab, backup, rel: bytes, planted: str) -> None:
    """Browse lists the directory `rel` of `backup` and notifies, once, what it left out, naming the
    symlink `planted`."""
    from rabtui.tui.app import make_app
    from tests.tui.conftest import browse_backups, run, wait_for

    async def go():
        app = make_app(lab.config_path, poll_interval=0)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await browse_backups(app, pilot, "loc")
            screen.open_backup(next(b for b in screen.keys if b["id"] == backup["id"]), rel)
            def told() -> list[str]:
                return [n.message for n in app._notifications if "rabtui never makes" in n.message]

            # the notice may come a moment after the listing is shown: waited for, then counted
            await wait_for(pilot, lambda: screen.rel == rel and not screen.loading and screen.level == "dir"
                           and told())
            await pilot.pause()
            said = told()
            assert len(said) == 1 and planted in said[0] and "left out" in said[0], said
            assert screen.keys, "the readable entries are listed still"

    run(go())


def test_a_checkpoint_plans_nothing_of_kept_data_through_a_symlink_planted_in_its_copy(tmp_path):
    """A checkpoint's plan takes what only kept data saved from the kept backup's tree: its data/
    made a symlink to a directory of this server, the plan took that directory's symlinks and empty
    directories for the discs. Now the plan refuses, naming the symlink."""
    from rabtui.checkpoint import prepare
    from rabtui.errors import WorkFailed
    lab, _photos, _data = _kept_data_planted(tmp_path)
    with pytest.raises(WorkFailed, match="is a symlink, which rabtui never makes"):
        prepare.compute(lab.load(), lab.store(), asked={"*"})


def test_a_checkpoint_burns_nothing_through_a_symlink_planted_in_place_of_an_older_backups_data(tmp_path):
    """A disc takes each archive file from the backup that first saved it: that backup's data/ made
    a symlink to a copy elsewhere holding a file of the recorded size and time, this server's file
    went onto the disc. Now that backup is passed over: the union's copy, the file saved, is burnt."""
    import threading

    from rabtui.checkpoint import prepare, run
    from rabtui.events import READY, ScriptedPrompter
    from tests.test_kept_entries_attacks import T0, _lab
    from datetime import timedelta

    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    _files(photos, {"x": b"original"})
    cfg = lab.load()
    assert lab.backup(cfg, now=T0).status == "completed"
    _files(photos, {"y": b"y"})
    assert lab.backup(cfg, now=T0 + timedelta(days=1)).status == "completed"
    store = lab.store()
    first = store.one("SELECT * FROM backups ORDER BY id LIMIT 1")
    elsewhere = _plant_copy(lab, tmp_path, first, "")
    assert snapshot(elsewhere)[os.fsencode(str(photos).lstrip("/")) + b"/x"] == b"SSSSSSSS"
    number = prepare.record(cfg, store, prepare.compute(cfg, store, asked={"*"}), drive=cfg.checkpoint.drive)
    burnt = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                                prompter=ScriptedPrompter(lambda q: READY))
    images = [p.read_bytes() for p in (tmp_path / "iso").iterdir()]
    assert images and not any(b"SSSSSSSS" in image for image in images), burnt.status
    assert burnt.status == "completed" and any(b"original" in image for image in images), burnt.status


def test_a_symlink_an_older_backup_saved_is_read_through_no_symlink_planted_in_its_copy(tmp_path, capsys):
    """A symlink an older complete backup saved, where a newer one put a file in its place in the
    union, is read from that older backup's tree (saved_others): its data/ made a symlink to a copy
    elsewhere, that copy's symlink (to this server's secrets) was restored in its place. Now
    nothing is read there: the symlink is named as not restored, with the planted one, and the
    restore fails."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("arch", "archive")])
    arch = lab.src / "arch"
    _files(arch, {"x": b"x1"})
    os.symlink("x", arch / "ln")
    assert lab.backup(cfg).status == "completed"          # saves ln
    _files(arch, {"y": b"y2"})
    assert lab.backup(cfg).status == "completed"          # has ln as the first saved it
    os.unlink(arch / "ln")
    _files(arch, {"ln": b"a file now"})
    assert lab.backup(cfg).status == "completed"          # the union holds the file
    store = lab.store()
    first, second, _ = store.all("SELECT * FROM backups ORDER BY id")
    elsewhere = _plant_copy(lab, tmp_path, first, "")
    planted = os.path.join(elsewhere, str(arch).lstrip("/"), "ln")
    os.unlink(planted)
    os.symlink("/etc/shadow", planted)
    out = tmp_path / "out"
    code = main(["--config", str(lab.config_path), "restore", "loc", str(arch), "--backup", second["name"],
                 "--to", str(out)])
    said = capsys.readouterr()
    restored = out / str(arch).lstrip("/") / "ln"
    assert not (os.path.islink(restored) and os.readlink(restored) == "/etc/shadow"), said
    # named as not restored, with the symlink, and the restore fails (never left out in silence)
    told = said.out + said.err
    assert code != 0 and "is a symlink, which rabtui never makes" in told and "ln" in told, (code, said)
    assert "not restored" in told and "ln: " in told and (out / str(arch).lstrip("/") / "y").read_bytes() == b"y2"
    alone = tmp_path / "alone"      # a restore of it alone: named, nothing restored in its place
    code = main(["--config", str(lab.config_path), "restore", "loc", str(arch / "ln"), "--backup", second["name"],
                 "--to", str(alone)])
    said = capsys.readouterr()
    assert code != 0 and "is a symlink, which rabtui never makes" in said.out + said.err, (code, said)
    assert not os.path.lexists(alone / str(arch).lstrip("/") / "ln"), said
    told: list[str] = []     # Browse's listing of the backup leaves it out, and says so
    names, _, _ = archive_view.listing(lab.load(), lab.store(), "loc", second, rel_path(str(arch)), told)
    assert b"ln" not in names and b"y" in names, names
    assert any("/ln left out" in said and os.path.join(first["path"], "data") in said for said in told), told


def test_what_an_older_backup_saved_not_read_through_a_planted_symlink_is_named_by_its_kind(tmp_path, capsys):
    """A symlink and a FIFO the backup had as an older backup saved them (the union holds newer
    files there), not read because that backup's data/ is a planted symlink: each is named as not
    restored with its own kind, not as a file."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("arch", "archive")])
    arch = lab.src / "arch"
    _files(arch, {"x": b"x1"})
    os.symlink("x", arch / "s")
    os.mkfifo(arch / "p")
    assert lab.backup(cfg).status == "completed"          # saves x, s and p
    _files(arch, {"y": b"y2"})
    assert lab.backup(cfg).status == "completed"          # has s and p as the first saved them
    os.unlink(arch / "s"), os.unlink(arch / "p")
    _files(arch, {"s": b"s3", "p": b"p3"})
    assert lab.backup(cfg).status == "completed"          # the union holds files there now
    first, second, _ = lab.store().all("SELECT * FROM backups ORDER BY id")
    _plant_copy(lab, tmp_path, first, "")
    capsys.readouterr()
    code = main(["--config", str(lab.config_path), "restore", "loc", str(arch), "--backup", second["name"],
                 "--to", str(tmp_path / "out")])
    said = capsys.readouterr().out
    top = str(arch).lstrip("/")
    assert code == 3, said
    assert f"not restored (symlink): {top}/s: " in said and f"not restored (fifo or socket): {top}/p: " in said, said


def test_a_planted_symlinks_name_is_escaped_once_where_it_is_shown(tmp_path, capsys):
    """The refusal of a symlink planted in place of a backup's copy names it as it is: the command
    line escapes the message where it prints it (an ESC in the name shows as `\\033`, once), and
    the job's record and its notification keep the exact name, as every other such message does."""
    lab = Lab(tmp_path, media_count=1)
    dirname = "ar\x1bch"
    (lab.src / dirname).mkdir()
    lab.config_path.write_text(config_text(lab.state, lab.media, '[[sources]]\nid = "loc"\n[[sources.directories]]\n'
                                           f'path = "{lab.src / dirname}"\nkind = "standard"\n').replace("\x1b", "\\u001b"))
    cfg = lab.load()
    _files(lab.src / dirname, {"x": b"x1"})
    backup = lab.backup(cfg)
    copy = backup.path / "data" / str(lab.src / dirname).lstrip("/")
    os.rename(copy, tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", copy)
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "restore", "loc", str(lab.src / dirname), "--to",
                 str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    shown = str(copy).replace("\x1b", "\\033")
    assert f"{shown} is a symlink, which rabtui never makes" in err and "\\\\033" not in err, err
    summary = lab.store().one("SELECT summary FROM jobs WHERE kind='restore'")["summary"]
    assert f"{copy} is a symlink, which rabtui never makes" in summary, summary
