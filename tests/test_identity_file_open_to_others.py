"""A source's identity_file that other users can read: the login refuses it, naming its mode and the
chmod (paramiko logged in with it, then rsync's ssh refused it, said as a key the source does not
accept), and `check` says it as critical: whoever reads it logs in to the source."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from rabtui.config import Config, Settings, Source
from rabtui.ops.health_local import privacy_problems
from rabtui.ssh import remote


def _refused_then_taken(sshd, tmp_path, key, mode: int, identity_file=None) -> None:
    """The login refuses `key` of `mode` and check says it; once closed (0600), both take it."""
    shutil.copy(sshd.identity_file, key)
    os.chmod(key, mode)
    src = Source(id="box", host=sshd.host, port=sshd.port, user=sshd.user, identity_file=identity_file)
    cfg = Config(path=None, rabtui=Settings(state_dir=tmp_path / "state"), sources=(src,))
    cfg.state_dir.mkdir(mode=0o700)
    (cfg.state_dir / "known_hosts").write_text(sshd.known_hosts_line())

    try:
        remote.whoami(cfg, src)
    except remote.Unreachable as exc:
        said = f"{exc}\n{exc.hint}"
    else:
        said = "logged in"
    assert f"identity file {key} is open to other users (mode {mode:04o})" in said and f"chmod go-rwx {key}" in said, said
    found = [p for p in privacy_problems(cfg) if p.check_id == "private:key:box"]
    assert [p.level for p in found] == ["critical"] and f"(mode {mode:04o})" in found[0].message, found

    os.chmod(key, 0o600)
    assert remote.whoami(cfg, src)
    assert not [p for p in privacy_problems(cfg) if p.check_id == "private:key:box"]


def test_an_identity_file_others_can_read_is_refused_and_checked(sshd, tmp_path):
    key = tmp_path / "key"
    _refused_then_taken(sshd, tmp_path, key, 0o644, identity_file=key)


def test_a_default_key_others_can_read_is_refused_and_checked(sshd, tmp_path):
    """A source that names no identity_file logs in with ~/.ssh/id_* (paramiko's look_for_keys): one
    of those open to others is refused and checked as an identity_file is."""
    ssh_dir = Path(os.path.expanduser("~/.ssh"))
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    _refused_then_taken(sshd, tmp_path, ssh_dir / "id_ed25519", 0o640)


def test_a_key_of_another_user_readable_by_all_in_a_directory_closed_to_them_is_taken(sshd, tmp_path):
    """A key of root's, 0644 in a folder of keys of root's closed to others, for rabtui run as a dedicated
    user (the folder their group's): no other user can reach it, and OpenSSH takes a key that is not
    of the user running it whatever its mode. The login refused it as open to other users, and check
    said it as critical. Here the run is root's, the key another user's."""
    import pwd

    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    key = keys / "key"
    shutil.copy(sshd.identity_file, key)
    os.chmod(key, 0o644)
    nobody = pwd.getpwnam("nobody")
    os.chown(key, nobody.pw_uid, nobody.pw_gid)
    src = Source(id="box", host=sshd.host, port=sshd.port, user=sshd.user, identity_file=key)
    cfg = Config(path=None, rabtui=Settings(state_dir=tmp_path / "state"), sources=(src,))
    cfg.state_dir.mkdir(mode=0o700)
    (cfg.state_dir / "known_hosts").write_text(sshd.known_hosts_line())
    assert remote.whoami(cfg, src)
    assert not [p for p in privacy_problems(cfg) if p.check_id == "private:key:box"]

    reached = Path(tempfile.mkdtemp(dir="/tmp"))    # every folder above searchable by all (pytest's are 0700)
    try:
        os.chmod(reached, 0o755)
        shutil.move(key, reached / "key")
        src = Source(id="box", host=sshd.host, port=sshd.port, user=sshd.user, identity_file=reached / "key")
        cfg = Config(path=None, rabtui=Settings(state_dir=tmp_path / "state"), sources=(src,))
        assert [p.level for p in privacy_problems(cfg) if p.check_id == "private:key:box"] == ["critical"]
    finally:
        shutil.rmtree(reached)


def test_each_default_key_openssh_tries_is_refused_and_checked(sshd, tmp_path):
    """OpenSSH 9.2 tries ~/.ssh/id_rsa, id_ecdsa, id_ecdsa_sk, id_ed25519, id_ed25519_sk, id_xmss and
    id_dsa (ssh -G); paramiko some of them. One open to others among those the login and check
    passed over (rsync's ssh reads it, and refuses it) is refused and checked as id_ed25519 is; the
    login itself is id_ed25519's, closed."""
    import subprocess

    tried = [line.split()[1] for line in subprocess.run(["ssh", "-G", "localhost"], capture_output=True, text=True,
                                                        check=True).stdout.splitlines()
             if line.startswith("identityfile ")]
    ssh_dir = Path(os.path.expanduser("~/.ssh"))
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    shutil.copy(sshd.identity_file, ssh_dir / "id_ed25519")
    os.chmod(ssh_dir / "id_ed25519", 0o600)
    for name in ("id_ecdsa_sk", "id_ed25519_sk", "id_xmss", "id_dsa"):
        assert f"~/.ssh/{name}" in tried, tried
        (tmp_path / name).mkdir()
        _refused_then_taken(sshd, tmp_path / name, ssh_dir / name, 0o644)
        os.unlink(ssh_dir / name)
