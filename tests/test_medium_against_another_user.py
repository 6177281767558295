"""A medium whose `<source>` directory or archive union another user made (their directory, or a
disk prepared elsewhere whose uid is a local user here): no backup of the source goes there, since
that user's `.archive` tree would receive a hard link of every new archive file, readable by them
where the source's closed parents kept it out; `check` says so."""

from __future__ import annotations

import os
import pwd
import subprocess

import pytest

from rabtui.cli import main as cli_main
from tests.trees import Lab, write_files

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.mark.parametrize("theirs", ["source", "union"])
def test_no_backup_goes_into_a_source_directory_of_another_user(open_base, capsys, theirs):
    nobody = pwd.getpwnam("nobody")
    lab = Lab(open_base, media_count=1)
    private = lab.src / "private"                 # like /root: closed on the source
    photos = private / "photos"
    write_files(photos, {"letter.txt": b"THE-SECRET-LETTER\n"})   # 0644, kept out by its 0700 parent
    private.chmod(0o700)
    cfg = lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{photos}"\nkind = "archive"\n')
    medium = lab.media[0][1]
    assert cli_main(["--config", str(lab.config_path), "media", "label", "m1"]) == 0
    top = medium / "loc"
    union = top / ".archive" / str(photos).lstrip("/")
    union.mkdir(parents=True, mode=0o700)
    for p in ([top, top / ".archive"] if theirs == "source" else []) + [union]:
        os.chown(p, nobody.pw_uid, nobody.pw_gid)

    res = lab.backup(cfg, medium_id="m1")
    got = subprocess.run(["cat", str(union / "letter.txt")], capture_output=True,
                         user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[]).stdout
    assert got != b"THE-SECRET-LETTER\n"
    assert res.status == "failed" and "belongs to user nobody" in res.reason, res.reason
    assert not [p for p in top.iterdir() if p.name.startswith("backup-")]
    capsys.readouterr()
    cli_main(["--config", str(lab.config_path), "check"])
    out = capsys.readouterr().out
    assert "CRITICAL" in out and "belongs to user nobody" in out and "backups of loc" in out, out


@pytest.mark.parametrize("how", ["owned", "open"])
def test_nothing_is_written_in_a_medium_directory_another_user_can_change(open_base, monkeypatch, capsys, how):
    """The medium's own directory another user's (their disk) or writable by everyone: a backup
    wrote the medium's probe there before it refused it, and the user who renamed the probe's
    directory away and put a symlink of theirs in its place (their inotify watch: the hook) had
    root truncate and touch any file of this server (here one standing for /etc/shadow)."""
    from pathlib import Path

    from tests.other_user import NOBODY, as_nobody

    lab = Lab(open_base, media_count=1)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", {"f": b"f"})
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    medium = lab.media[0][1]
    if how == "owned":
        os.chown(medium, NOBODY.pw_uid, NOBODY.pw_gid)
    else:
        medium.chmod(0o777)
    victim = open_base / "shadow"
    victim.write_bytes(b"root:$6$secret\n")
    victim.chmod(0o600)
    theirs = open_base / "theirs"
    theirs.mkdir()
    os.symlink(victim, theirs / "file")
    os.chown(theirs, NOBODY.pw_uid, NOBODY.pw_gid)
    real = Path.write_bytes

    def swapped_first(self, data):
        if self.parent.name.startswith(".rabtui-probe-"):
            def swap():
                os.rename(self.parent, self.parent.with_name("aside"))
                os.symlink(theirs, self.parent)
            as_nobody(swap)
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", swapped_first)
    res = lab.backup(cfg, medium_id="m1")
    monkeypatch.undo()
    assert victim.read_bytes() == b"root:$6$secret\n"
    said = "belongs to user nobody" if how == "owned" else "is writable by everyone"
    assert res.status == "failed" and said in res.reason and str(medium) in res.reason, res.reason
    assert len([p for p in (medium / "loc").iterdir() if p.name.startswith("backup-")]) == 1
    capsys.readouterr()
    assert cli_main(["--config", str(lab.config_path), "media", "label", "m1", "--force"]) != 0
    err = capsys.readouterr().err
    assert said in err and "nothing written" in err and "Traceback" not in err, err


def test_a_sticky_medium_directory_is_used_and_no_label_is_written_through_a_symlink_of_theirs(open_base, capsys):
    """A medium's directory open to everyone but sticky (as /tmp) is used: another user may make
    entries there but not rename rabtui's. The label's temporary file bears a name they can know
    in advance (pid and thread): one of theirs made first, a symlink to a file of this server, is
    never written through (it was truncated and filled with the label, the label left a symlink)."""
    import threading

    from rabtui.media.medium import LABEL
    from tests.other_user import as_nobody

    lab = Lab(open_base, media_count=1)
    lab.local([("data", "standard")])
    medium = lab.media[0][1]
    medium.chmod(0o1777)
    victim = open_base / "shadow"
    victim.write_bytes(b"root:$6$secret\n")
    theirs = medium / f"{LABEL}.tmp-{os.getpid()}-{threading.get_ident()}"
    as_nobody(lambda: os.symlink(victim, theirs))

    assert cli_main(["--config", str(lab.config_path), "media", "label", "m1"]) == 0, capsys.readouterr().err
    assert victim.read_bytes() == b"root:$6$secret\n"
    assert not (medium / LABEL).is_symlink() and b'"m1"' in (medium / LABEL).read_bytes()


def test_a_medium_reached_through_a_symlink_in_another_users_directory_is_refused(open_base, capsys):
    """The medium's path is a symlink to a symlink that lies in a directory of another user (their
    home, say): neither the path as named nor where it resolves to is theirs, but they can put a
    symlink of their own in place of the one in their directory and have rabtui write where they
    choose. Refused before anything is written, naming their directory."""
    from tests.other_user import NOBODY

    lab = Lab(open_base, media_count=1)
    lab.local([("data", "standard")])
    medium = lab.media[0][1]
    theirs = open_base / "theirs"
    theirs.mkdir()
    os.symlink(medium, theirs / "disk")
    os.chown(theirs, NOBODY.pw_uid, NOBODY.pw_gid)
    os.chown(theirs / "disk", NOBODY.pw_uid, NOBODY.pw_gid, follow_symlinks=False)
    named = open_base / "mnt-m1"
    os.symlink(theirs / "disk", named)
    lab.config_path.write_text(lab.config_path.read_text().replace(f'"{medium}"', f'"{named}"'))
    assert f'"{named}"' in lab.config_path.read_text()

    assert cli_main(["--config", str(lab.config_path), "media", "label", "m1"]) != 0
    err = capsys.readouterr().err
    assert f"{theirs} belongs to user nobody" in err and "nothing written" in err, err
    assert not [p for p in medium.iterdir() if p.name.startswith(".rabtui")]
