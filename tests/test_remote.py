"""remote.py against the real test sshd (host keys, login, commands, rsync over OpenSSH), plus the
pure builders of rsync's -e value and locations."""

from __future__ import annotations

import getpass
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from rabtui import proc, proc_started
from rabtui.ssh import remote
from rabtui.ssh import endpoint as ssh_endpoint
from rabtui.backup import source_commands
from rabtui.config import Config, Settings, Source
from rabtui.errors import Cancelled, WorkFailed
from rabtui.events import LOG
from tests.sshd import SshServer, free_port, keygen


def make_cfg(state_dir: Path) -> Config:
    return Config(path=None, rabtui=Settings(state_dir=state_dir))


@pytest.fixture
def cfg(tmp_path) -> Config:
    return make_cfg(tmp_path / "state")


@pytest.fixture
def source(sshd) -> Source:
    return Source(id="box", host=sshd.host, port=sshd.port, user=sshd.user, identity_file=sshd.identity_file)


@pytest.fixture
def trusted(cfg, sshd) -> Config:
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    (cfg.state_dir / "known_hosts").write_text(sshd.known_hosts_line())
    return cfg


def other_key_line(tmp_path: Path, name: str) -> str:
    key = tmp_path / "other_host_key"
    proc.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
    kind, blob = (key.with_suffix(".pub")).read_text().split()[:2]
    return f"{name} {kind} {blob}\n"


def rsync_split(rsh: str) -> list[str]:
    """rsync's own splitting of -e (main.c do_cmd): spaces split, '...' or "..." quote, doubled quote inside."""
    out, i = [], 0
    while i < len(rsh):
        if rsh[i] == " ":
            i += 1
            continue
        arg, quote = "", None
        while i < len(rsh) and (rsh[i] != " " or quote):
            c = rsh[i]
            if c in "'\"":
                if not quote:
                    quote = c
                    i += 1
                    continue
                if c == quote:
                    if i + 1 < len(rsh) and rsh[i + 1] == quote:
                        arg += c
                        i += 2
                        continue
                    quote = None
                    i += 1
                    continue
            arg += c
            i += 1
        out.append(arg)
    return out


# --- pure builders -------------------------------------------------------------------------------


def test_rsync_location_remote_local_and_ipv6():
    assert ssh_endpoint.rsync_location(Source(id="l"), "/srv/a b") == "/srv/a b/"
    assert ssh_endpoint.rsync_location(Source(id="l"), "/srv/x/") == "/srv/x/"
    assert ssh_endpoint.rsync_location(Source(id="r", host="web1", user="bk"), "/etc") == "bk@web1:/etc/"
    assert ssh_endpoint.rsync_location(Source(id="r", host="web1"), "/it's \"q\"") == "web1:/it's \"q\"/"
    assert ssh_endpoint.rsync_location(Source(id="r", host="::1", user="u"), "/d") == "u@[::1]:/d/"
    assert ssh_endpoint.rsync_location(Source(id="r", host="[fe80::1]"), "/d") == "[fe80::1]:/d/"


def test_rsync_rsh_quotes_every_path_for_rsync_and_ssh(tmp_path):
    state = tmp_path / "state dir's \"x\" 100%"
    key = tmp_path / "my key's"
    cfg = make_cfg(state)
    src = Source(id="r", host="web1", port=2222, user="backup", identity_file=key)
    ep = ssh_endpoint.Endpoint(hostname="web1", port=2222, user="backup", identity_files=[key], alias="web1")
    rsh = ssh_endpoint.rsync_rsh(cfg, src, ep)
    argv = rsync_split(rsh)
    assert argv[0] == "ssh"
    assert argv[argv.index("-p") + 1] == "2222"
    assert argv[argv.index("-l") + 1] == "backup"
    opts = [argv[i + 1] for i, a in enumerate(argv) if a == "-o"]
    assert "BatchMode=yes" in opts and "StrictHostKeyChecking=yes" in opts
    assert "ConnectTimeout=15" in opts and "IdentitiesOnly=yes" in opts
    # the values are ssh_config values: double-quoted, \" and \\ escaped, % doubled
    ident = f'IdentityFile="{key}"'
    assert ident in opts
    home_kh = Path("~/.ssh/known_hosts").expanduser()
    state_kh = str(state / "known_hosts").replace('"', '\\"').replace("%", "%%")
    assert f'UserKnownHostsFile="{home_kh}" "{state_kh}"' in opts


def test_rsync_rsh_refuses_local_source(cfg):
    with pytest.raises(ValueError):
        ssh_endpoint.rsync_rsh(cfg, Source(id="l"))


def test_rsync_split_helper_matches_rsync_rules():
    assert rsync_split("ssh  -o 'a b' \"c'd\" 'it''s'") == ["ssh", "-o", "a b", "c'd", "it's"]


# --- endpoint and ~/.ssh/config ------------------------------------------------------------------


def write_ssh_config(home: Path, text: str) -> None:
    (home / ".ssh").mkdir(exist_ok=True)
    (home / ".ssh" / "config").write_text(text)


def test_endpoint_takes_unset_values_from_ssh_config(isolated_home, tmp_path):
    key = tmp_path / "k"
    key.write_text("x")
    write_ssh_config(isolated_home, f"Host myalias\n  HostName 10.1.2.3\n  Port 2200\n  User bk\n"
                                    f"  IdentityFile {key}\n  IdentityFile ~/.ssh/missing\n")
    ep = ssh_endpoint.endpoint(Source(id="s", host="myalias"))
    assert (ep.hostname, ep.port, ep.user, ep.identity_files, ep.alias) == ("10.1.2.3", 2200, "bk", [key], "myalias")
    assert ep.known_hosts_name == "[10.1.2.3]:2200"
    # explicit values in rabtui's config win
    ep = ssh_endpoint.endpoint(Source(id="s", host="myalias", port=22, user="root", identity_file=tmp_path / "j"))
    assert (ep.hostname, ep.port, ep.user, ep.identity_files) == ("10.1.2.3", 22, "root", [tmp_path / "j"])
    assert ep.known_hosts_name == "10.1.2.3"


def test_endpoint_defaults_without_ssh_config():
    ep = ssh_endpoint.endpoint(Source(id="s", host="web1"))
    assert (ep.hostname, ep.port, ep.user, ep.identity_files) == ("web1", 22, getpass.getuser(), [])


# --- host keys -----------------------------------------------------------------------------------


def test_unknown_host_key_stops_with_its_fingerprint(cfg, source, sshd):
    with pytest.raises(remote.UnknownHostKey) as exc:
        remote.whoami(cfg, source)
    e = exc.value
    assert e.fingerprint == sshd.fingerprint()
    assert (e.host, e.port, e.key_type) == ("127.0.0.1", sshd.port, "ssh-ed25519")
    assert sshd.fingerprint() in str(e) and "rabtui sources trust box" in str(e)
    assert not (cfg.state_dir / "known_hosts").exists()   # never auto-accepted


def test_trust_then_whoami(cfg, source, sshd):
    info = remote.scan_host_key(cfg, source)
    assert info.status == "unknown" and info.fingerprint == sshd.fingerprint()
    path = remote.trust(cfg, source, info)
    assert path == cfg.state_dir / "known_hosts"
    assert path.read_text() == sshd.known_hosts_line()   # OpenSSH format, "[host]:port"
    assert remote.whoami(cfg, source) == sshd.user
    again = remote.scan_host_key(cfg, source)
    assert again.known and again.files == (path,)
    remote.trust(cfg, source, again)
    assert path.read_text().count("\n") == 1               # not written twice


def test_users_own_known_hosts_counts_and_hashed_names_work(cfg, source, sshd, isolated_home):
    kh = isolated_home / ".ssh" / "known_hosts"
    kh.parent.mkdir()
    kh.write_text(sshd.known_hosts_line())
    proc.run(["ssh-keygen", "-q", "-H", "-f", str(kh)])
    assert sshd.host not in kh.read_text()                 # now hashed
    assert remote.whoami(cfg, source) == sshd.user
    assert remote.scan_host_key(cfg, source).files == (kh,)


def test_changed_host_key_is_refused_loudly_and_trust_refuses_too(cfg, source, sshd, tmp_path):
    kh = cfg.state_dir / "known_hosts"
    kh.parent.mkdir(parents=True)
    kh.write_text(other_key_line(tmp_path, f"[127.0.0.1]:{sshd.port}"))
    before = kh.read_text()
    with pytest.raises(remote.ChangedHostKey) as exc:
        remote.whoami(cfg, source)
    msg = str(exc.value)
    assert msg.startswith("HOST KEY CHANGED for host 127.0.0.1:")
    assert f"got {sshd.fingerprint()}" in msg and "man-in-the-middle" in msg and str(kh) in msg
    assert exc.value.expected != sshd.fingerprint() and exc.value.expected.startswith("SHA256:")
    info = remote.scan_host_key(cfg, source)
    assert info.changed
    with pytest.raises(remote.ChangedHostKey):
        remote.trust(cfg, source, info)
    assert kh.read_text() == before
    with pytest.raises(remote.ChangedHostKey):
        source_commands.run_commands(cfg, source, ["true"], emit=lambda e: None)


# --- unreachable ---------------------------------------------------------------------------------


def test_closed_port_is_unreachable(cfg, sshd):
    port = free_port()
    src = Source(id="x", host="127.0.0.1", port=port, user="someone", identity_file=sshd.identity_file)
    with pytest.raises(remote.Unreachable) as exc:
        remote.whoami(cfg, src)
    assert f"127.0.0.1:{port}" in str(exc.value) and "someone" in str(exc.value)
    assert "refused" in str(exc.value)


def test_unresolvable_host_is_unreachable(cfg, sshd):
    src = Source(id="x", host="no-such-host.invalid", user="u", identity_file=sshd.identity_file)
    with pytest.raises(remote.Unreachable) as exc:
        remote.scan_host_key(cfg, src)
    assert "no-such-host.invalid:22" in str(exc.value) and "does not resolve" in str(exc.value)


def test_wrong_identity_file_fails_authentication(trusted, source, sshd, tmp_path):
    wrong = tmp_path / "wrong_key"
    proc.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)])
    src = Source(id="box", host=sshd.host, port=sshd.port, user=sshd.user, identity_file=wrong)
    with pytest.raises(remote.Unreachable) as exc:
        remote.whoami(trusted, src)
    msg = str(exc.value)
    assert "authentication failed" in msg and str(wrong) in msg and sshd.user in msg and str(sshd.port) in msg


def test_missing_identity_file_is_named(trusted, sshd, tmp_path):
    src = Source(id="box", host=sshd.host, port=sshd.port, user=sshd.user, identity_file=tmp_path / "nope")
    with pytest.raises(remote.Unreachable, match="identity file .*nope does not exist"):
        remote.whoami(trusted, src)


# --- commands ------------------------------------------------------------------------------------


def test_first_failing_command_stops_and_its_output_is_logged(trusted, source, tmp_path):
    marker = tmp_path / "later ran"
    events = []
    with pytest.raises(WorkFailed) as exc:
        source_commands.run_commands(trusted, source, [
            "echo first ok",
            "echo to stdout; echo to stderr >&2; exit 7",
            f"touch '{marker}'",
        ], emit=events.append, what="pre-backup")
    assert str(exc.value).startswith("pre-backup command failed (exit 7): echo to stdout;")
    assert "to stderr" in exc.value.hint
    logged = [e.message for e in events if e.kind == LOG]
    assert "first ok" in logged and "to stdout\nto stderr" in logged      # one event per command
    assert not marker.exists()


def test_all_commands_run_in_order(trusted, source, tmp_path):
    out = tmp_path / "order"
    source_commands.run_commands(trusted, source, [f"echo a >> '{out}'", f"echo b >> '{out}'"], emit=lambda e: None)
    assert out.read_text() == "a\nb\n"


def test_large_output_is_bounded(trusted, source):
    events = []
    source_commands.run_commands(trusted, source, ["seq 1 100000; seq 1 50000 >&2"],
                                 emit=events.append, what="post-backup")
    assert len(events) == 2                       # the command, then the last 64 KiB of its output
    output = events[1]
    total = len(b"".join(b"%d\n" % i for i in range(1, 100001))) + len(b"".join(b"%d\n" % i for i in range(1, 50001)))
    assert output.data["output_bytes"] == total and output.data["dropped_bytes"] == total - 64 * 1024
    assert output.message.startswith(f"[{total - 64 * 1024} earlier bytes of output not kept]\n")
    assert output.message.endswith("\n49999\n50000") and len(output.message) < 64 * 1024 + 100


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].startswith("Z")
    except OSError:     # gone, or going as it was read
        return True


def wait_until(condition, what: str, limit: float = 30.0) -> None:
    """Wait for something that must happen (a deadline for the event, not a measure of speed)."""
    end = time.monotonic() + limit
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"{what} did not happen")
        time.sleep(0.05)


def test_cancel_closes_the_channel(trusted, source, tmp_path):
    """Cancelled while the remote command runs: the run ends and the command on the source is killed
    before it could finish (the mark it would leave after its sleep is never made)."""
    pid_file, finished = tmp_path / "pid", tmp_path / "finished"
    cancel = threading.Event()
    threading.Thread(target=lambda: (wait_until(pid_file.exists, "the command's start"), cancel.set())).start()
    with pytest.raises(Cancelled):
        source_commands.run_commands(trusted, source, [f"echo $$ > {pid_file}; sleep 30; touch {finished}"],
                                     emit=lambda e: None, cancel=cancel)
    wait_until(lambda: gone(int(pid_file.read_text())), "the end of the command on the source")
    assert not finished.exists()


# --- ~/.ssh/config alias -------------------------------------------------------------------------


def alias_source(isolated_home, sshd) -> Source:
    write_ssh_config(isolated_home, f"Host myalias\n  HostName 127.0.0.1\n  Port {sshd.port}\n"
                                    f"  User {sshd.user}\n  IdentityFile {sshd.identity_file}\n")
    return Source(id="aliased", host="myalias")


def test_ssh_config_alias(cfg, sshd, isolated_home):
    src = alias_source(isolated_home, sshd)
    with pytest.raises(remote.UnknownHostKey):
        remote.whoami(cfg, src)
    remote.trust(cfg, src, remote.scan_host_key(cfg, src))
    assert (cfg.state_dir / "known_hosts").read_text() == sshd.known_hosts_line()
    assert remote.whoami(cfg, src) == sshd.user


# --- local sources -------------------------------------------------------------------------------


def test_local_source_needs_no_ssh(cfg, tmp_path):
    local = Source(id="here")
    assert remote.whoami(cfg, local) == getpass.getuser()
    events = []
    marker = tmp_path / "m"
    with pytest.raises(WorkFailed, match=r"post-backup command failed \(exit 2\): echo oops >&2; exit 2"):
        source_commands.run_commands(cfg, local, [f"touch '{marker}'", "echo oops >&2; exit 2", "echo never"],
                            emit=events.append, what="post-backup")
    assert marker.exists()
    logged = [e.message for e in events]
    assert "oops" in logged and "never" not in logged
    with pytest.raises(ValueError):
        ssh_endpoint.endpoint(local)


# --- real OpenSSH through rsync ------------------------------------------------------------------


def hostile_tree(root: Path) -> Path:
    src = root / "it's a \"dir\" with spaces, $(touch PWNED) `id` *\nand a newline"
    (src / "sub dir").mkdir(parents=True)
    (src / "sub dir" / "file 'one'.txt").write_text("one\n")
    (src / "-leading dash").write_text("two\n")
    return src


def rsync_via(rsh: str, location: str, dest: Path) -> proc_started.Completed:
    return proc.run(["rsync", "-a", "-e", rsh, location, str(dest) + "/"], timeout=60)


def test_rsync_over_openssh_with_the_same_keys_and_hostile_paths(tmp_path, sshd):
    state = tmp_path / "state dir 'q' \"d\" 50%"
    cfg = make_cfg(state)
    state.mkdir()
    (state / "known_hosts").write_text(sshd.known_hosts_line())
    key = tmp_path / "key dir 'k'" / "id 50%"
    key.parent.mkdir()
    shutil.copy(sshd.identity_file, key)
    key.chmod(0o600)
    src = Source(id="box", host=sshd.host, port=sshd.port, user=sshd.user, identity_file=key)
    tree = hostile_tree(tmp_path)
    dest = tmp_path / "dest"
    done = rsync_via(ssh_endpoint.rsync_rsh(cfg, src), ssh_endpoint.rsync_location(src, str(tree)), dest)
    assert done.returncode == 0, done.stderr_text()
    assert (dest / "sub dir" / "file 'one'.txt").read_text() == "one\n"
    assert (dest / "-leading dash").read_text() == "two\n"
    assert sorted(p.name for p in dest.iterdir()) == ["-leading dash", "sub dir"]
    login_home = Path(pwd.getpwuid(os.getuid()).pw_dir)   # where a remote shell would have run it
    assert not (login_home / "PWNED").exists() and not (tmp_path / "PWNED").exists()


def test_rsync_over_openssh_refuses_an_unknown_host(cfg, source, tmp_path):
    tree = hostile_tree(tmp_path)
    done = rsync_via(ssh_endpoint.rsync_rsh(cfg, source), ssh_endpoint.rsync_location(source, str(tree)), tmp_path / "d")
    assert done.returncode != 0
    assert "Host key verification failed" in done.stderr_text()


def test_rsync_over_openssh_through_an_alias(cfg, sshd, isolated_home, tmp_path):
    src = alias_source(isolated_home, sshd)
    cfg.state_dir.mkdir(parents=True)
    (cfg.state_dir / "known_hosts").write_text(sshd.known_hosts_line())
    tree = hostile_tree(tmp_path)
    dest = tmp_path / "dest"
    location = ssh_endpoint.rsync_location(src, str(tree))
    assert location.startswith("myalias:")
    done = rsync_via(ssh_endpoint.rsync_rsh(cfg, src), location, dest)
    assert done.returncode == 0, done.stderr_text()
    assert (dest / "sub dir" / "file 'one'.txt").read_text() == "one\n"


def test_a_port_that_does_not_speak_ssh(cfg, sshd):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def answer():
        conn, _ = server.accept()
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    src = Source(id="x", host="127.0.0.1", port=port, user="u", identity_file=sshd.identity_file)
    try:
        with pytest.raises(remote.Unreachable) as exc:
            remote.whoami(cfg, src)
    finally:
        server.close()
    assert f"127.0.0.1:{port} as user u: SSH handshake failed" in str(exc.value)


def test_a_killed_remote_command_has_no_exit_status(trusted, source):
    """The login shell itself is killed (the parent of the command's wrapper, see killable)."""
    with pytest.raises(WorkFailed, match=r"pre-backup command failed \(no exit status"):
        source_commands.run_commands(trusted, source, ["echo dying; kill -KILL $(ps -o ppid= -p $PPID)"],
                                     emit=lambda e: None)


# --- a host with several host keys ---------------------------------------------------------------


@pytest.fixture(scope="module")
def two_key_sshd(tmp_path_factory, sshd):
    """An sshd offering an RSA and an ed25519 host key (paramiko alone would pick ed25519)."""
    d = tmp_path_factory.mktemp("sshd2")
    keygen(d / "host_rsa", "rsa")
    keygen(d / "host_ed25519")
    (d / "authorized_keys").write_text(sshd.identity_file.with_suffix(".pub").read_text())
    port = free_port()
    config = (sshd.dir / "sshd_config").read_text().replace(str(sshd.dir), str(d))
    config = config.replace(f"Port {sshd.port}", f"Port {port}").replace("HostKey ", f"HostKey {d / 'host_rsa'}\nHostKey ")
    (d / "sshd_config").write_text(config)
    server = SshServer(dir=d, port=port, user=sshd.user, identity_file=sshd.identity_file, host_key=d / "host_ed25519")
    server.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                if s.recv(4).startswith(b"SSH-"):
                    break
        except OSError:
            time.sleep(0.05)
    yield server
    server.stop()


def test_the_key_type_on_file_is_the_one_asked_for(cfg, two_key_sshd):
    d = two_key_sshd.dir
    kind, blob = (d / "host_rsa.pub").read_text().split()[:2]
    cfg.state_dir.mkdir(parents=True)
    (cfg.state_dir / "known_hosts").write_text(f"[127.0.0.1]:{two_key_sshd.port} {kind} {blob}\n")
    src = Source(id="two", host="127.0.0.1", port=two_key_sshd.port, user=two_key_sshd.user,
                 identity_file=two_key_sshd.identity_file)
    assert remote.whoami(cfg, src) == two_key_sshd.user
    info = remote.scan_host_key(cfg, src)
    assert info.known and info.key_type == "ssh-rsa"
    # with nothing on file, the preferred type (ed25519) is offered for trust
    other = make_cfg(cfg.state_dir.parent / "other")
    info = remote.scan_host_key(other, src)
    assert info.status == "unknown" and info.key_type == "ssh-ed25519"


def test_proxy_jump_in_ssh_config_is_named(cfg, isolated_home):
    write_ssh_config(isolated_home, "Host inner\n  HostName 10.9.9.9\n  ProxyJump bastion\n")
    ep = ssh_endpoint.endpoint(Source(id="s", host="inner"))
    assert ep.proxy == "proxyjump bastion"
    with pytest.raises(remote.Unreachable, match="sets proxyjump bastion for inner"):
        remote.whoami(cfg, Source(id="s", host="inner"))


def test_the_changed_key_hint_is_the_way_back(cfg, source, sshd, tmp_path):
    kh = cfg.state_dir / "known_hosts"
    kh.parent.mkdir(parents=True)
    kh.write_text(other_key_line(tmp_path, f"[127.0.0.1]:{sshd.port}"))
    with pytest.raises(remote.ChangedHostKey) as exc:
        remote.whoami(cfg, source)
    command = exc.value.hint.split(", then run:")[0]
    assert command.startswith("ssh-keygen -f ")
    proc.run(shlex.split(command))   # what the operator does once the new key is confirmed
    remote.trust(cfg, source, remote.scan_host_key(cfg, source))
    assert remote.whoami(cfg, source) == sshd.user


def test_a_silent_port_times_out_clearly(cfg):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    src = Source(id="x", host="127.0.0.1", port=port, user="u")
    try:
        with pytest.raises(remote.Unreachable, match=rf"127.0.0.1:{port} as user u: no SSH handshake within 1 s"):
            remote.connect(cfg, src, timeout=1)
        # the client gave up by itself: it had connected, and it has closed its end
        conn, _ = server.accept()
        with conn:
            conn.settimeout(30)
            while conn.recv(4096):
                pass
    finally:
        server.close()


# --- known_hosts files, read as ssh reads them ---------------------------------------------------


def test_known_hosts_reader_matches_like_ssh(tmp_path, sshd):
    from rabtui.ssh import known_hosts

    kind, blob64 = sshd.host_public_line.split()[:2]
    hashed = tmp_path / "hashed"
    hashed.write_text(f"[127.0.0.1]:{sshd.port} {kind} {blob64}\n")
    proc.run(["ssh-keygen", "-q", "-H", "-f", str(hashed)])
    f = tmp_path / "kh"
    f.write_text(
        "# comment\n"
        "\n"
        "broken line\n"
        f"bad.example ssh-ed25519 AAAA!!!notbase64\n"
        f"*.example.com,!evil.example.com {kind} {blob64}\n"
        f"@cert-authority *.example.org {kind} {blob64}\n"
        f"@revoked bad.example.net {kind} {blob64}\n"
        f"web?.lan {kind} {blob64}\n"
        + hashed.read_text()
    )
    entries = known_hosts.read([f, tmp_path / "missing"])
    assert [e.line for e in entries] == [5, 7, 8, 9]

    def hits(name):
        return [e.line for e in known_hosts.for_host(entries, name)]

    assert hits("WWW.example.com") == [5] and hits("evil.example.com") == [] and hits("example.com") == []
    assert hits("web1.lan") == [8] and hits("web10.lan") == []
    assert hits("bad.example.net") == [7] and entries[1].marker == "@revoked"
    assert hits(f"[127.0.0.1]:{sshd.port}") == [9] and hits("[127.0.0.1]:1") == []
    assert hits("example.org") == []                     # CA lines are not host keys
    assert entries[0].fingerprint == sshd.fingerprint()  # same as ssh-keygen -l


def test_a_broken_line_in_the_users_known_hosts_does_not_stop_anything(cfg, source, sshd, isolated_home):
    kh = isolated_home / ".ssh" / "known_hosts"
    kh.parent.mkdir()
    kh.write_bytes(b"garbage ssh-ed25519 AAAA!!!\n\xff\xfe not even text\n" + sshd.known_hosts_line().encode())
    assert remote.whoami(cfg, source) == sshd.user


def test_a_revoked_key_is_refused_and_not_trusted(cfg, source, sshd):
    cfg.state_dir.mkdir(parents=True)
    kh = cfg.state_dir / "known_hosts"
    kh.write_text("@revoked " + sshd.known_hosts_line() + sshd.known_hosts_line())
    with pytest.raises(remote.HostKeyError, match=f"marked @revoked in {re.escape(str(kh))} line 1"):
        remote.whoami(cfg, source)
    with pytest.raises(remote.HostKeyError, match="revoked"):
        remote.trust(cfg, source, remote.scan_host_key(cfg, source))


def test_a_wildcard_entry_is_honoured(cfg, source, sshd):
    cfg.state_dir.mkdir(parents=True)
    kind, blob = sshd.host_public_line.split()[:2]
    (cfg.state_dir / "known_hosts").write_text(f"[127.0.0.*]:* {kind} {blob}\n")
    assert remote.whoami(cfg, source) == sshd.user


def test_changed_key_message_names_file_and_line(cfg, source, sshd, tmp_path):
    cfg.state_dir.mkdir(parents=True)
    kh = cfg.state_dir / "known_hosts"
    kh.write_text("# header\nother.host ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
                  + other_key_line(tmp_path, f"[127.0.0.1]:{sshd.port}"))
    with pytest.raises(remote.ChangedHostKey, match=f"remove the old key from {re.escape(str(kh))} line 3"):
        remote.whoami(cfg, source)


def test_a_known_hosts_linked_to_a_file_elsewhere_gets_no_key(cfg, source, sshd, tmp_path):
    """rabtui's known_hosts a hard link to a file of root's (made in a state directory open to all
    where protected_hardlinks is off): trusting a key appended its line to that file."""
    victim = tmp_path / "shadow"
    victim.write_text("root:$6$secret:19000:0:99999:7:::\n")
    cfg.state_dir.mkdir(parents=True)
    cfg.state_dir.chmod(0o1777)     # where another user can make names
    os.link(victim, cfg.state_dir / "known_hosts")
    info = remote.scan_host_key(cfg, source)
    with pytest.raises(WorkFailed) as exc:
        remote.trust(cfg, source, info)
    assert "has 2 names" in str(exc.value), exc.value
    assert victim.read_text() == "root:$6$secret:19000:0:99999:7:::\n"


def test_a_known_hosts_copied_by_hand_with_hard_links_gets_the_key(cfg, source, sshd, tmp_path):
    """The state directory copied by the operator with `cp -al`: its known_hosts has two names, both
    theirs, in a directory nobody else can make a name in. Trusting a source's key was refused."""
    cfg.state_dir.mkdir(parents=True)
    (cfg.state_dir / "known_hosts").write_text("other.host ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    subprocess.run(["cp", "-al", str(cfg.state_dir), str(tmp_path / "state.copy")], check=True)
    remote.trust(cfg, source, remote.scan_host_key(cfg, source))
    assert len((cfg.state_dir / "known_hosts").read_text().splitlines()) == 2
    remote.whoami(cfg, source)
