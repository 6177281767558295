"""A restore whose tree would hold a medium or the state directory (a directory restored into a
target where the path of a medium, or of the state, lies below it: another host's /srv restored
to /, say) is refused before anything is written, as one into a medium is: with --overwrite it
would replace the medium's label and backups, or the state database, with the source's files."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest

from rabtui.cli import main
from tests.sshd import start_sshd
from tests.trees import Lab, burn_due, snapshot, ssh_source_lines, write_files

T0 = datetime(2026, 6, 1, 3, 0)


@pytest.mark.parametrize("what", ["medium", "state"])
def test_a_restore_over_a_medium_or_the_state_directory_is_refused(tmp_path, capsys, what):
    lab = Lab(tmp_path, media_count=1)
    alt = tmp_path / "alt"
    under = alt / str(lab.src / "data").lstrip("/")     # where the source's directory lands below --to alt
    if what == "medium":
        lab.media.append(("m2", under / "sub"))
    else:
        lab.state = under / "sub"
    (under / "sub").mkdir(parents=True)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", {"sub/.rabtui-medium": b"not the label", "sub/state.db": b"not the state",
                                   "sub/new": b"n", "other": b"o"})
    assert lab.backup(cfg, medium_id="m1", now=T0).status == "completed"
    if what == "medium":
        assert main(["--config", str(lab.config_path), "media", "label", "m2"]) == 0
    before = snapshot(under / "sub") if what == "medium" else None     # the state's database changes
    for more in ([], ["--overwrite"]):
        code = main(["--config", str(lab.config_path), "restore", "loc", str(lab.src / "data"), "--to", str(alt),
                     *more])
        err = capsys.readouterr().err
        assert code == 2, err
        assert ("medium 'm2'" if what == "medium" else "the state directory") in err
        assert not (under / "sub/new").exists() and not (under / "sub/state.db").exists()
        assert what == "state" or snapshot(under / "sub") == before
        assert not (under / "other").exists()
    # a path beside it is restored
    assert main(["--config", str(lab.config_path), "restore", "loc", str(lab.src / "data/other"), "--to", str(alt)]) == 0
    assert (under / "other").read_bytes() == b"o"


def test_a_restore_over_the_images_of_an_images_drive_is_refused(tmp_path, capsys):
    """The images an `images:` drive wrote (a checkpoint's discs, maybe not burned yet) are kept as
    the media are: a restore whose tree holds their directory would replace them."""
    lab = Lab(tmp_path, media_count=1)
    alt = tmp_path / "alt"
    images = alt / str(lab.src / "data").lstrip("/") / "iso"
    before = _images_burned_at(lab, images)
    assert list(before) == [b"RAB1D01.iso"]
    code = main(["--config", str(lab.config_path), "restore", "loc", str(lab.src / "data"), "--to", str(alt),
                 "--overwrite"])
    err = capsys.readouterr().err
    assert code == 2 and "images of drive" in err, err
    assert snapshot(images) == before
    assert not (images.parent / "other").exists()


def test_a_medium_reached_by_another_mount_of_it_is_refused(tmp_path, capsys, bind_mount):
    """The medium mounted at a second place too (a bind mount, the desktop's automount of its
    disk): a restore into a backup there, by that other path, changes the backup as one by the
    configured path would."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", {"f": b"new"})
    backup = lab.backup(cfg, now=T0)
    assert backup.status == "completed"
    alias = bind_mount(tmp_path / "alias", lab.media[0][1])
    inside = alias / backup.path.relative_to(lab.media[0][1]) / "data"
    before = snapshot(lab.media[0][1])
    code = main(["--config", str(lab.config_path), "restore", "loc", str(lab.src / "data"), "--to", str(inside),
                 "--overwrite"])
    err = capsys.readouterr().err
    assert code == 2 and "medium 'm1'" in err, err
    assert snapshot(lab.media[0][1]) == before


def test_a_restore_onto_a_source_on_this_machine_over_a_medium_is_refused(tmp_path, capsys, sshd):
    """A source reached over SSH that is this machine (here 127.0.0.1), a medium inside one of its
    directories: a restore of that directory onto the source, with --overwrite, would replace the
    medium's label and backups with the source's files. It is refused, naming the medium, before
    anything is written; a path beside it is restored."""
    lab = Lab(tmp_path, media_count=1)
    remote = tmp_path / "remote"
    lab.media.append(("m2", remote / "inner"))
    write_files(remote, {"inner/.rabtui-medium": b"not the label", "inner/new": b"n", "other": b"o"})
    cfg = lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{remote}"\n')
    lab.trust(sshd)
    assert lab.backup(cfg, "web", medium_id="m1", now=T0).status == "completed"
    (remote / "inner" / "new").unlink()
    (remote / "inner" / ".rabtui-medium").unlink()
    assert main(["--config", str(lab.config_path), "media", "label", "m2"]) == 0
    (remote / "other").write_bytes(b"changed")
    before = snapshot(remote / "inner")
    for what in (remote, remote / "inner" / "new"):
        code = main(["--config", str(lab.config_path), "restore", "web", str(what), "--to-source", "--overwrite"])
        err = capsys.readouterr().err
        assert code == 2 and "medium 'm2'" in err, err
        assert snapshot(remote / "inner") == before and (remote / "other").read_bytes() == b"changed"
    assert main(["--config", str(lab.config_path), "restore", "web", str(remote / "other"), "--to-source",
                 "--overwrite"]) == 0
    assert (remote / "other").read_bytes() == b"o"


def test_a_source_on_this_kernel_whose_paths_are_its_own_is_restored_onto(tmp_path, capsys):
    """A source reached over SSH that runs on this machine's kernel but sees a tree of its own (a
    container: its boot id is this one's): where this machine has a medium, the source has a
    directory of its own, and a restore there is not refused; the medium stays as it is."""
    if os.geteuid() != 0:
        pytest.skip("a mount namespace of its own needs root")
    lab = Lab(tmp_path, media_count=1)
    remote = tmp_path / "remote"
    lab.media.append(("m2", remote / "inner"))
    (remote / "inner").mkdir(parents=True)
    # the container's sshd: its own tmpfs where this machine holds the medium
    server = start_sshd(tmp_path / "sshd", wrap=("unshare", "-m", "--propagation", "private", "sh", "-c",
                                                 'mount -t tmpfs tmpfs "$0" && exec "$@"', str(remote)))
    try:
        theirs = Path(f"/proc/{server.proc.pid}/root") / str(remote).lstrip("/")
        write_files(theirs, {"inner/new": b"n", "other": b"o"})
        cfg = lab.write(ssh_source_lines(server) + f'[[sources.directories]]\npath = "{remote}"\n')
        lab.trust(server)
        assert main(["--config", str(lab.config_path), "media", "label", "m2"]) == 0
        assert lab.backup(cfg, "web", medium_id="m1", now=T0).status == "completed"
        (theirs / "inner" / "new").unlink()
        before = snapshot(remote / "inner")
        code = main(["--config", str(lab.config_path), "restore", "web", str(remote), "--to-source", "--overwrite"])
        assert code == 0, capsys.readouterr().err
        assert (theirs / "inner" / "new").read_bytes() == b"n"
        assert snapshot(remote / "inner") == before and not (remote / "inner" / "new").exists()
    finally:
        server.stop()


def test_a_medium_closed_to_a_non_root_ssh_user_on_this_machine_is_refused(tmp_path, capsys):
    """The SSH user is not root (nobody: each command of the login run as it) and cannot look into
    the directory holding the medium (root's, 0700) on this machine: the same-kernel rule compares
    the nearest directory above it the user can look at, and a restore into the medium, or of a
    tree holding it (which the user cannot walk either), is refused naming it; the medium stays as it is, and a file beside it, in the
    user's directory, is restored."""
    if os.geteuid() != 0:
        pytest.skip("needs root (logins as another user)")
    lab = Lab(tmp_path, media_count=1)
    remote = tmp_path / "remote"
    for d in (tmp_path, *tmp_path.parents):
        os.chmod(d, os.stat(d).st_mode | 0o005)
    write_files(remote, {"closed/inner/new": b"n", "mine/other": b"o"})
    for p in (remote / "mine", remote / "mine" / "other"):
        os.chown(p, 65534, 65534)
    (remote / "closed" / "inner" / "new").chmod(0o644)
    as_nobody = 'exec setpriv --reuid=65534 --regid=65534 --clear-groups /bin/sh -c "$SSH_ORIGINAL_COMMAND"'
    server = start_sshd(tmp_path / "sshd", wrap=("sh", "-c", 'exec "$@" -o "ForceCommand $0"', as_nobody))
    try:
        lab.media.append(("m2", remote / "closed" / "inner"))
        cfg = lab.write(ssh_source_lines(server) + f'[[sources.directories]]\npath = "{remote}"\n')
        lab.trust(server)
        assert lab.backup(cfg, "web", medium_id="m1", now=T0).status == "completed"
        (remote / "closed" / "inner" / "new").unlink()
        (remote / "closed").chmod(0o700)
        assert main(["--config", str(lab.config_path), "media", "label", "m2"]) == 0, capsys.readouterr()
        (remote / "mine" / "other").write_bytes(b"changed")
        before = snapshot(remote / "closed")
        for what in (remote / "closed" / "inner" / "new", remote):
            code = main(["--config", str(lab.config_path), "restore", "web", str(what), "--to-source", "--overwrite"])
            err = capsys.readouterr().err
            assert code == 2 and "medium 'm2'" in err, err
            assert snapshot(remote / "closed") == before
        assert main(["--config", str(lab.config_path), "restore", "web", str(remote / "mine" / "other"), "--to-source",
                     "--overwrite"]) == 0, capsys.readouterr()
        assert (remote / "mine" / "other").read_bytes() == b"o"
    finally:
        server.stop()


def test_a_restore_onto_a_local_source_over_the_images_is_refused(tmp_path, capsys):
    """An `images:` drive's folder inside a local source's directory (left out of its backups: the
    config refuses it otherwise): a restore of the directory onto the source is refused as one into
    a directory holding it is, and the images stay as they are."""
    lab = Lab(tmp_path, media_count=1)
    images = lab.src / "data" / "iso"
    before = _images_burned_at(lab, images)
    (lab.src / "data" / "other").write_bytes(b"changed")
    code = main(["--config", str(lab.config_path), "restore", "loc", str(lab.src / "data"), "--to-source",
                 "--overwrite"])
    err = capsys.readouterr().err
    assert code == 2 and "images of drive" in err, err
    assert snapshot(images) == before and (lab.src / "data" / "other").read_bytes() == b"changed"


def test_a_medium_mounted_inside_the_target_is_refused(tmp_path, capsys, bind_mount):
    """A directory of the medium bind-mounted inside the target (--to DIR), or inside a local
    source's directory whose backups cross into mounts: a restore there with --overwrite would
    write into the backups through it. Refused, naming the medium and the mount, before anything
    is written."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    write_files(lab.src / "data", {"view/.rabtui-medium": b"not the label", "other": b"o"})
    backup = lab.backup(cfg, now=T0)
    assert backup.status == "completed"
    alt = tmp_path / "alt"
    under = alt / str(lab.src / "data").lstrip("/")
    (under / "view").mkdir(parents=True)
    bind_mount(under / "view", backup.path)                 # a backup of the medium shown there
    bind_mount(lab.src / "data" / "view", lab.media[0][1])  # the whole medium shown in the source
    before = snapshot(lab.media[0][1])
    for where in (["--to", str(alt)], ["--to-source"]):
        code = main(["--config", str(lab.config_path), "restore", "loc", str(lab.src / "data"), *where, "--overwrite"])
        err = capsys.readouterr().err
        assert code == 2 and "medium 'm1'" in err and "view" in err, err
        assert snapshot(lab.media[0][1]) == before


def test_a_btrfs_medium_mounted_inside_the_target_is_refused(tmp_path, capsys, bind_mount, btrfs):
    """A medium on btrfs, whose files' device (stat) is not the one mountinfo lists for its mounts:
    a backup of it bind-mounted inside the target is known as well."""
    lab = Lab(tmp_path, media_count=1)
    btrfs(lab.media[0][1])
    cfg = lab.local()
    write_files(lab.src / "data", {"view/f": b"new"})
    backup = lab.backup(cfg, now=T0)
    assert backup.status == "completed"
    alt = tmp_path / "alt"
    under = alt / str(lab.src / "data").lstrip("/")
    (under / "view").mkdir(parents=True)
    bind_mount(under / "view", backup.path)
    before = snapshot(lab.media[0][1])
    code = main(["--config", str(lab.config_path), "restore", "loc", str(lab.src / "data"), "--to", str(alt),
                 "--overwrite"])
    err = capsys.readouterr().err
    assert code == 2 and "medium 'm1'" in err and "view" in err, err
    assert snapshot(lab.media[0][1]) == before


def _images_burned_at(lab: Lab, images: Path) -> dict:
    """A checkpoint burned to an `images:` drive at `images`, after a backup of the source's `data`
    holding a file at the first image's name (unless `images` is the source's own data/iso, which
    its backups must leave out): what `images` holds then."""
    lab.with_discs("cd-700")
    text = lab.config_path.read_text().replace(f"images:{lab.tmp / 'iso'}", f"images:{images}")
    if images == lab.src / "data" / "iso":
        text = text.replace('id = "loc"\n', 'id = "loc"\nexcludes = ["/iso/"]\n', 1)
    lab.config_path.write_text(text)
    cfg = lab.load()
    write_files(lab.src / "data", {"iso/RAB1D01.iso": b"not the disc", "other": b"o"})
    assert lab.backup(cfg, now=T0).status == "completed"
    burn_due(cfg, lab.store())
    return snapshot(images)
