"""A medium whose `<source>` directory or archive union another user made (their directory, or a
disk prepared elsewhere whose uid is a local user here): no backup of the source goes there, since
that user's `.archive` tree would receive a hard link of every new archive file, readable by them
where the source's closed parents kept it out; `check` says so."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from rabtui.cli import main as cli_main
from tests.trees import Lab, snapshot, write_files

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


def _in_roots_group(lab: Lab, how: str) -> Path:
    """A copy of /etc/group with nobody a member of root's group (gid 0), or of /etc/passwd with
    root's group nobody's primary one, in the lab: what `_as_with` puts in the original's place."""
    name = "group" if how == "member" else "passwd"
    lines = Path("/etc", name).read_text().splitlines()
    for i, line in enumerate(lines):
        fields = line.split(":")
        if how == "member" and fields[0] == "root":
            fields[3] = ",".join(filter(None, [fields[3], "nobody"]))
        elif how == "primary group" and fields[0] == "nobody":
            fields[3] = "0"
        lines[i] = ":".join(fields)
    copy = lab.tmp / name
    copy.write_text("\n".join(lines) + "\n")
    return copy


def _as_with(copy: Path, *args: str) -> subprocess.CompletedProcess:
    """`rabtui ARGS` in a mount namespace of its own where `copy` is bind-mounted over the file of
    /etc that has its name: the machine's users and groups as that copy says, for it alone."""
    target = f"/etc/{copy.name}"
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           'mount --bind "$1" "$2" && shift 2 && exec "$@"', "sh", str(copy), target,
                           sys.executable, "-m", "rabtui", *args],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)


@pytest.mark.parametrize("how", ["member", "primary group"])
def test_a_medium_writable_by_roots_group_is_refused_once_another_user_is_in_that_group(tmp_path, how):
    """A medium's directory writable by its group root (gid 0): used while only root is in that
    group, as on most systems; refused, with nothing written, once another user is in it (a member,
    or a user whose primary group it is), as it is for any other group: that user could rename what
    rabtui makes there and put a symlink of theirs in its place. (It was never refused: gid 0 was
    taken for root alone.)"""
    import grp

    if subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0:
        pytest.skip("no mount namespace here (unshare --mount)")
    if grp.getgrgid(0).gr_mem or any(p.pw_gid == 0 and p.pw_uid != 0 for p in pwd.getpwall()):
        pytest.skip("root's group holds other users on this machine")
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")])
    write_files(lab.src / "data", {"f": b"f"})
    medium = lab.media[0][1]
    os.chown(medium, 0, 0)
    medium.chmod(0o775)
    config = ["--config", str(lab.config_path)]
    assert cli_main([*config, "backup", "loc"]) == 0     # root's group of root alone: fine
    before = snapshot(medium)

    refused = _as_with(_in_roots_group(lab, how), *config, "backup", "loc")
    out = refused.stdout + refused.stderr
    assert refused.returncode == 1 and "Traceback" not in out, out
    assert f"{medium} is writable by its group root (gid 0)" in out and "nothing written" in out, out
    assert snapshot(medium) == before
    labelled = _as_with(_in_roots_group(lab, how), *config, "media", "label", "m1", "--force")
    assert labelled.returncode != 0 and "writable by its group root (gid 0)" in labelled.stderr, \
        labelled.stdout + labelled.stderr
    assert snapshot(medium) == before


def test_a_write_test_of_theirs_made_first_on_a_sticky_medium_does_not_fail_the_backup(open_base):
    """The try of a medium's writing before a backup was named by pid and thread: another user of a
    sticky medium open to all who made that file first (or a symlink there) failed every backup
    onto it ("not writable: File exists"). Its name now cannot be known in advance."""
    import threading

    from rabtui.media.medium import WRITE_TEST
    from tests.other_user import as_nobody

    lab = Lab(open_base, media_count=1)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", {"f": b"f"})
    medium = lab.media[0][1]
    assert cli_main(["--config", str(lab.config_path), "media", "label", "m1"]) == 0
    medium.chmod(0o1777)
    theirs = medium / f"{WRITE_TEST}{os.getpid()}-{threading.get_ident()}"
    as_nobody(lambda: theirs.write_bytes(b""))

    res = lab.backup(cfg, medium_id="m1")
    assert res.status == "completed", res.reason
    assert sorted(p.name for p in medium.iterdir() if p.name.startswith(WRITE_TEST)) == [theirs.name]


def test_a_label_temporary_of_theirs_made_first_on_a_sticky_medium_does_not_fail_the_labelling(open_base):
    """The label's temporary file was named by pid and thread too: a directory of another user's
    there (which root does not remove as it removes their file) failed the labelling."""
    import threading

    from rabtui.media.medium import LABEL
    from tests.other_user import as_nobody

    lab = Lab(open_base, media_count=1)
    lab.local([("data", "standard")])
    medium = lab.media[0][1]
    medium.chmod(0o1777)
    theirs = medium / f"{LABEL}.tmp-{os.getpid()}-{threading.get_ident()}"
    as_nobody(lambda: theirs.mkdir())

    assert cli_main(["--config", str(lab.config_path), "media", "label", "m1"]) == 0
    assert (medium / LABEL).is_file() and theirs.is_dir()
