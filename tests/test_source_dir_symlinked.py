"""A configured directory of a source that is a symlink when it is backed up (a user who owns its
parent put one there, to /etc, /root or another user's home) is not followed: rsync's `dir/`
reads what the link points to, and a backup pulling as root would save those files under the
directory's name. The directory fails, naming the link and its target; the files it points to
are in neither the backup nor the catalog. Also when the link takes the directory's place after
rabtui looked (between that look and rsync's start): the look after the transfer sees it.

Real rsync, locally and over the test sshd."""

from __future__ import annotations

import os
import stat

import pytest

from rabtui.cli import main
from tests.trees import Lab, ssh_source_lines, write_files


def _tree(lab: Lab):
    """src/pub (a directory), src/alice -> src/secret (a symlink), src/secret/shadow."""
    pub, alice, secret = lab.src / "pub", lab.src / "alice", lab.src / "secret"
    write_files(pub, {"readme": b"r"})
    write_files(secret, {"shadow": b"root:x"})
    os.symlink(secret, alice)
    return pub, alice, secret


def _dirs(*paths) -> str:
    return "".join(f'[[sources.directories]]\npath = "{p}"\n' for p in paths)


def _saved_names(lab: Lab) -> list[str]:
    names = []
    for _, medium in lab.media:
        for _, dirs, files in os.walk(medium):
            names += files + dirs
    return names


def _catalog_paths(lab: Lab) -> list[bytes]:
    return [bytes(r["path"]) for r in lab.store().all("SELECT path FROM paths")]


def test_a_local_directory_that_is_a_symlink_fails_naming_its_target(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    pub, alice, secret = _tree(lab)
    lab.write('[[sources]]\nid = "loc"\n' + _dirs(pub, alice))
    assert main(["--config", str(lab.config_path), "backup", "loc"]) == 1
    capsys.readouterr()
    [row] = lab.store().all("SELECT status, reason FROM backups")
    assert row["status"] == "failed"
    assert f"{alice} is a symlink on the source (to {secret}): not followed" in row["reason"], row["reason"]
    assert "shadow" not in _saved_names(lab)
    assert not [p for p in _catalog_paths(lab) if b"shadow" in p]


def test_an_ssh_directory_that_is_a_symlink_fails_naming_its_target(tmp_path, sshd):
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    pub, alice, secret = _tree(lab)
    cfg = lab.write(ssh_source_lines(sshd) + _dirs(pub, alice))
    result = lab.backup(cfg, "web")
    assert result.status == "failed" and result.exit_code == 1
    assert f"{alice} is a symlink on the source (to {secret}): not followed" in result.reason, result.reason
    assert "shadow" not in _saved_names(lab)
    assert not [p for p in _catalog_paths(lab) if b"shadow" in p]


def _swapper(lab: Lab, alice, secret) -> str:
    """A command that runs rsync, having put a symlink to `secret` in the place of the directory
    `alice` first when it is the transfer (not rabtui's look at the directory)."""
    script = lab.tmp / "swap-then-rsync"
    script.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" --list-only "*) ;; *)\n'
        f'  if [ -d "{alice}" ] && [ ! -L "{alice}" ]; then mv "{alice}" "{alice}.moved" && ln -s "{secret}" "{alice}"; fi;;\n'
        "esac\n"
        'exec rsync "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


@pytest.mark.parametrize("over_ssh", [False, True])
def test_a_symlink_put_in_place_as_rsync_starts_fails_the_directory(tmp_path, request, over_ssh):
    lab = Lab(tmp_path, media_count=1)
    pub, alice, secret = _tree(lab)
    os.unlink(alice)
    write_files(alice, {"mine": b"m"})
    swap = _swapper(lab, alice, secret)
    if over_ssh:
        sshd = request.getfixturevalue("sshd")
        lab.trust(sshd)
        cfg = lab.write(ssh_source_lines(sshd) + f'rsync_path = "{swap}"\n' + _dirs(pub, alice))
    else:
        cfg = lab.write(f'[[sources]]\nid = "web"\nrsync_path = "{swap}"\n' + _dirs(pub, alice))
    result = lab.backup(cfg, "web")
    assert os.path.islink(alice)       # the swap happened: rsync read through the link
    assert result.status == "failed", result.reason
    assert f"{alice} is a symlink on the source (to {secret}): not followed" in result.reason, result.reason
    assert "shadow" not in _saved_names(lab)
    assert not [p for p in _catalog_paths(lab) if b"shadow" in p]
