"""What rabtui sends over SSH is read by the source account's login shell (sshd runs `SHELL -c
TEXT`), which may be sh, bash, dash, zsh, fish or tcsh: each program sent runs there as given.
The shells are run here as sshd runs them, and by a real sshd whose passwd (nss_wrapper's) gives
the account that shell; one not installed skips (scripts/sysdeps.sh installs them where it may)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest

from rabtui import proc, rsync
from rabtui.backup import source_commands, source_top
from rabtui.config import Source
from rabtui.errors import WorkFailed
from rabtui.restore import source_check
from rabtui.ssh import endpoint as ssh_endpoint, login_shell
from tests.sshd import start_sshd
from tests.test_remote import make_cfg

SHELLS = ["sh", "bash", "dash", "zsh", "fish", "tcsh"]
# a name each shell reads its own way: sh's $ and quotes, fish's \\ and \', tcsh's !
AWKWARD = "d $HOME !! x\\\\y 'q' \"w\" `id` *"


def installed(shell: str) -> str:
    """The path of `shell` (the test skipped where there is none)."""
    path = shutil.which(shell)
    if path is None:
        pytest.skip(f"{shell} is not installed (scripts/sysdeps.sh installs it)")
    return path


def as_sshd_runs(shell: str, text: str, **kw) -> subprocess.CompletedProcess:
    """`text` run by `shell` as an account's login shell is by sshd."""
    path = installed(shell)
    return subprocess.run([path, "-c", text], capture_output=True, timeout=30,
                          env={**os.environ, "SHELL": path}, **kw)


@pytest.mark.parametrize("shell", SHELLS)
def test_a_program_sent_runs_as_given_under_any_login_shell(shell):
    argv = ["printf", "%s|", AWKWARD, "a\\'b", "!", "", "$?"]
    ran = as_sshd_runs(shell, login_shell.command_line(argv))
    assert (ran.returncode, ran.stdout) == (0, subprocess.run(argv, capture_output=True).stdout), ran


@pytest.mark.parametrize("shell", SHELLS)
def test_the_check_before_a_restore_onto_the_source_runs_under_any_login_shell(tmp_path, shell):
    # its script holds `!` (tcsh: "owner: Event not found.", the restore refused as not checked)
    # and backslashes (fish read those of a path as escapes)
    top = tmp_path / AWKWARD
    (top / "sub").mkdir(parents=True)
    os.symlink("/etc", top / "sub" / "ln")
    argv = source_check.source_check_argv(make_cfg(tmp_path / "state"), Source(id="r", host="web1"),
                                          os.fsencode(top), True)
    sent = argv[argv.index("web1") + 1:]
    assert len(sent) == 1
    ran = as_sshd_runs(shell, sent[0])
    records = [r for r in ran.stdout.split(b"\0") if r]
    assert ran.returncode == 0 and records[-1] == b"=", ran
    assert [r for r in records if r.startswith(b"/")] == [os.fsencode(top / "sub" / "ln")], records
    assert os.fsencode(f",{top}/sub") in records, records


@pytest.mark.parametrize("shell", SHELLS)
def test_the_look_at_the_same_places_runs_under_any_login_shell(tmp_path, shell, monkeypatch):
    # SAME_PLACES, sent as source_check._same_places sends it
    sent = []

    def run_on(_source, _what, argv, **_kw):
        sent.append(argv[-1])
        raise WorkFailed("not sent")

    monkeypatch.setattr(source_check, "run_on", run_on)
    top = tmp_path / AWKWARD
    top.mkdir()
    cfg = make_cfg(top / "state")
    source_check._same_places(cfg, Source(id="r", host="web1"), os.fsencode(top), None)
    ran = as_sshd_runs(shell, sent[0])
    st = os.stat(top / "state") if (top / "state").exists() else os.stat(top)
    assert ran.returncode == 0, ran
    assert ran.stdout.split(b"\0")[1] == b"%d:%d" % (st.st_dev, st.st_ino), ran


@pytest.mark.parametrize("shell", SHELLS)
def test_rsyncs_remote_side_runs_under_any_login_shell(tmp_path, shell):
    # rsync sends its remote side (`RSYNC_PATH --server ...`) as one command line too: a name
    # holding $, ! and \\ read by the source's rsync itself, a two-word rsync_path, and the session
    # command that looks for a symlink first (source_top), which saw the link under each shell
    path = installed(shell)
    rsh = tmp_path / "rsh"       # ssh's part: the login shell given the words joined by spaces
    rsh.write_text('#!/bin/sh\nshift\nexec "$LOGIN" -c "$*"\n')
    rsh.chmod(0o755)
    env = {**os.environ, "LOGIN": path, "SHELL": path}
    top = tmp_path / AWKWARD.rstrip(" *")     # one with a wildcard and a backslash rsync does not read
    top.mkdir()
    (top / "f $x !y \\z").write_text("one\n")
    plain = tmp_path / "plain"
    (plain / "a").mkdir(parents=True)
    os.symlink(plain, tmp_path / "link")
    source = Source(id="r", host="web1")
    looks = source_top.session_command(["env", "rsync"], str(tmp_path / "link"), None)
    for i, (where, rsync_path) in enumerate([(top, "env rsync"), (plain, "env rsync"), (tmp_path / "link", looks)]):
        ran = subprocess.run(["rsync", "-a", *rsync.transfer_options(io_timeout=30, rsync_path=rsync_path),
                              "-e", str(rsh), ssh_endpoint.rsync_read_location(source, str(where)), str(tmp_path / f"out{i}")],
                             capture_output=True, env=env, timeout=60)
        if i < 2:
            assert ran.returncode == 0, ran
        else:           # the look saw the link: exit SAW_BEFORE, or the client's line that nothing came
            assert ran.returncode != 0 and not (tmp_path / "out2" / "a").exists(), ran
    assert (tmp_path / "out0" / "f $x !y \\z").read_text() == "one\n"
    assert (tmp_path / "out1" / "a").is_dir()


# nss_wrapper (libnss-wrapper) gives a test's sshd a passwd of its own, where this account's
# login shell is the one the test names: sshd itself runs it
NSS_WRAPPER = [os.environ.get("NSS_WRAPPER_LIB", ""), "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so",
               "/usr/lib/aarch64-linux-gnu/libnss_wrapper.so", "/usr/lib64/libnss_wrapper.so"]


def sshd_whose_login_shell_is(tmp_path, shell: str):
    """A real sshd (tests/sshd.py) whose account, this one, has `shell` for its login shell."""
    path = installed(shell)
    lib = next((p for p in NSS_WRAPPER if p and os.path.isfile(p)), None)
    if lib is None:
        pytest.skip("no libnss_wrapper.so (libnss-wrapper; scripts/sysdeps.sh installs it; or NSS_WRAPPER_LIB)")
    me = pwd.getpwuid(os.getuid())
    lines = [line if line.split(":")[0] != me.pw_name else ":".join([*line.split(":")[:6], path])
             for line in Path("/etc/passwd").read_text().splitlines()]
    (tmp_path / "passwd").write_text("\n".join(lines) + "\n")
    shutil.copy("/etc/group", tmp_path / "group")
    return start_sshd(tmp_path / "sshd", wrap=("env", f"LD_PRELOAD={lib}", f"NSS_WRAPPER_PASSWD={tmp_path / 'passwd'}",
                                               f"NSS_WRAPPER_GROUP={tmp_path / 'group'}"))


@pytest.mark.parametrize("shell", SHELLS)
def test_over_a_real_sshd_the_check_rsync_and_a_command_run_under_the_accounts_login_shell(tmp_path, shell):
    server = sshd_whose_login_shell_is(tmp_path, shell)
    try:
        cfg = make_cfg(tmp_path / "state")
        (tmp_path / "state").mkdir()
        (tmp_path / "state" / "known_hosts").write_text(server.known_hosts_line())
        source = Source(id="r", host=server.host, port=server.port, user=server.user,
                        identity_file=server.identity_file, rsync_path="env rsync")
        said = proc.run(["ssh", *ssh_endpoint.client_argv(cfg, source)[1:], "--", server.host, "echo $SHELL"],
                        capture=True, timeout=60)
        assert said.stdout.split(b"/")[-1] == shell.encode() + b"\n", said     # the login shell is the test's
        top = tmp_path / AWKWARD
        (top / "sub").mkdir(parents=True)
        os.symlink("/etc", top / "sub" / "ln")
        checked = proc.run(source_check.source_check_argv(cfg, source, os.fsencode(top), True), capture=True, timeout=60)
        records = [r for r in checked.stdout.split(b"\0") if r]
        assert checked.ok and records[-1] == b"=", checked
        assert [r for r in records if r.startswith(b"/")] == [os.fsencode(top / "sub" / "ln")], records
        plain = tmp_path / AWKWARD.rstrip(" *")
        (plain / "f $x !y \\z").parent.mkdir()
        (plain / "f $x !y \\z").write_text("one\n")
        copied = proc.run(["rsync", "-a", *rsync.transfer_options(io_timeout=30, rsync_path=source.rsync_path),
                           "-e", ssh_endpoint.rsync_rsh(cfg, source), ssh_endpoint.rsync_read_location(source, str(plain)),
                           str(tmp_path / "out")], timeout=60)
        assert copied.ok, copied.stderr_text()
        assert (tmp_path / "out" / "f $x !y \\z").read_text() == "one\n"
        ran = tmp_path / "ran"      # a pre/post command (paramiko's channel): it runs, its exit status said
        with pytest.raises(WorkFailed, match=r"failed \(exit 3\)"):
            source_commands.run_commands(cfg, source, [f"echo \"a'b\" '$HOME' > '{ran}'; exit 3"], emit=lambda _e: None)
        assert ran.read_text() == "a'b $HOME\n"
    finally:
        server.stop()
