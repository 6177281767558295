import os
import pwd
import subprocess


def _ssh(sshd, known_hosts, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ssh", "-p", str(sshd.port), "-i", str(sshd.identity_file),
         "-o", f"UserKnownHostsFile={known_hosts}", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
         f"{sshd.user}@{sshd.host}", command],
        capture_output=True, text=True, timeout=30,
    )


def test_the_test_sshd_accepts_our_key(sshd, known_hosts):
    out = _ssh(sshd, known_hosts, "whoami")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == sshd.user
    assert sshd.fingerprint().startswith("SHA256:")


def test_a_login_reads_no_shell_start_up_of_the_machine_s_account(sshd, known_hosts):
    """bash run by sshd reads ~/.bashrc: what the machine's account holds there (a pyenv rehash
    racing another login's, writing on stderr) came into rsync's stderr and a backup's warnings."""
    out = _ssh(sshd, known_hosts, 'printf %s "$HOME"')
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert out.stdout != pwd.getpwuid(os.getuid()).pw_dir
    assert out.stdout == str(sshd.home)
    assert list(sshd.home.iterdir()) == []
