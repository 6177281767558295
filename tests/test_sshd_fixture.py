import subprocess


def test_the_test_sshd_accepts_our_key(sshd, known_hosts):
    out = subprocess.run(
        ["ssh", "-p", str(sshd.port), "-i", str(sshd.identity_file),
         "-o", f"UserKnownHostsFile={known_hosts}", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
         f"{sshd.user}@{sshd.host}", "whoami"],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == sshd.user
    assert sshd.fingerprint().startswith("SHA256:")
