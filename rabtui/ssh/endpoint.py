"""Where and how to reach a remote source: its endpoint (with ~/.ssh/config filling the gaps), the
known_hosts files, and the OpenSSH options that make rsync reach it exactly as paramiko does.

Pure functions, apart from reading ~/.ssh/config; remote.py re-exports them.
"""

from __future__ import annotations

import getpass
import os
import pwd
from dataclasses import dataclass, field
from pathlib import Path

from rabtui import fmt, privacy, rsync
from rabtui.ssh import known_hosts, login_shell
from rabtui.config import Config, Source
from rabtui.errors import WorkFailed

CONNECT_TIMEOUT = 15
# How long a shared connection (ControlMaster) stays open once idle: longer than the gap between
# step 1 and rsync, short enough not to linger after a killed backup. A rsync that comes later
# connects on its own.
SHARED_IDLE_SECONDS = 120
# the keys of ~/.ssh a login tries when a source names none: OpenSSH's (ssh -G: 9.2's IdentityFile
# defaults), which hold paramiko's (look_for_keys: id_rsa, id_dsa, id_ecdsa, id_ed25519)
DEFAULT_KEYS = ("id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk", "id_xmss", "id_dsa")


@dataclass(frozen=True)
class Endpoint:
    hostname: str                       # where to connect (HostName from ~/.ssh/config, else the host)
    port: int
    user: str
    identity_files: list[Path] = field(default_factory=list)
    alias: str = ""                     # the host as written in the config (what ssh looks up)
    proxy: str | None = None            # ProxyJump / ProxyCommand from ~/.ssh/config (paramiko cannot follow it)
    host_key_alias: str | None = None   # HostKeyAlias from ~/.ssh/config

    @property
    def known_hosts_name(self) -> str:
        """The name OpenSSH files this host's key under: its HostKeyAlias as it stands (no port
        added), else the host name, with the port when it is not 22."""
        if self.host_key_alias:
            return self.host_key_alias
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"

    def __str__(self) -> str:
        return f"{self.user}@{self.hostname}:{self.port}"


# --- where to connect ----------------------------------------------------------------------------


def _known_hosts_places(cfg: Config) -> list[Path]:
    return [Path(os.path.expanduser("~/.ssh/known_hosts")), cfg.state_dir / "known_hosts"]


def known_hosts_files(cfg: Config) -> list[Path]:
    """The known_hosts files read, by paramiko and by ssh: ~/.ssh/known_hosts left out where another
    user can change a directory on the way to it (their home, for a `sudo rabtui` that kept it):
    missing when it was looked at, it could be theirs when ssh reads it."""
    home, state = _known_hosts_places(cfg)
    return ([home] if privacy.others_can_change(home) is None else []) + [state]


def known_hosts_checked(cfg: Config) -> None:
    """WorkFailed for a known_hosts file that is there and must not be trusted: one another user can
    change (ssh would trust a key of theirs for a source) or one ssh would wait on (a FIFO)."""
    for path in _known_hosts_places(cfg):
        known_hosts.contents(path)


def changeable_by_others(path: Path, what: str) -> None:
    """WorkFailed when a user other than root and this one can change `path` or a directory on the
    way to it: their home, for a `sudo rabtui` that kept their HOME."""
    why = privacy.others_can_change(path) or privacy.others_can_write(os.path.realpath(path))
    if why:
        raise WorkFailed(f"{fmt.name(str(path))}: {fmt.name(why)}: not read ({what})",
                         hint="run rabtui with its own user's HOME (sudo -H, not sudo -E), or give the file and"
                              " the directories above it to this user or root, closed to others (chmod go-w)")


def _ssh_config_lookup(alias: str) -> dict:
    path = Path(os.path.expanduser("~/.ssh/config"))
    if not path.is_file():
        return {}
    changeable_by_others(path, "its ProxyCommand would run as this user, its Host lines choose where it connects")
    import paramiko   # here, not at the top: a backup without ~/.ssh/config never loads paramiko

    try:
        return dict(paramiko.SSHConfig.from_path(str(path)).lookup(alias))
    except Exception as exc:  # paramiko raises assorted errors on odd config files
        raise WorkFailed(f"cannot read {path}: {exc}") from None


def default_keys() -> list[Path]:
    """The keys of ~/.ssh a login tries when neither the source nor ~/.ssh/config names one: in
    $HOME's (paramiko's) and in the home the password database gives (ssh's, when HOME is another)."""
    homes = [os.path.expanduser("~")]
    try:
        homes.append(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:
        pass
    found = [Path(home, ".ssh", name) for home in dict.fromkeys(homes) for name in DEFAULT_KEYS]
    return [p for p in found if p.is_file()]


def keys_tried(ep: Endpoint) -> list[Path]:
    """The key files a login to `ep` reads: those it names, else the default ones."""
    return ep.identity_files or default_keys()


def endpoint(source: Source) -> Endpoint:
    """Host, port, user and keys of a remote source; ~/.ssh/config fills what the source leaves unset."""
    if source.is_local:
        raise ValueError(f"source {source.id} is the local machine")
    found = _ssh_config_lookup(source.host)
    port = source.port
    if port is None:
        try:
            port = int(found.get("port", 22))
        except ValueError:
            raise WorkFailed(f"~/.ssh/config: bad Port for {source.host}: {found['port']!r}") from None
    if source.identity_file is not None:
        identities = [source.identity_file]
    else:
        identities = [Path(os.path.expanduser(p)) for p in found.get("identityfile", [])]
        identities = [p for p in identities if p.is_file()]  # as ssh does, skip those that do not exist
    return Endpoint(
        hostname=found.get("hostname", source.host),
        port=port,
        user=source.user or found.get("user") or getpass.getuser(),
        identity_files=identities,
        alias=source.host,
        proxy=next((f"{k} {found[k]}" for k in ("proxyjump", "proxycommand")
                    if found.get(k) and found[k] != "none"), None),
        host_key_alias=found.get("hostkeyalias"),
    )


# --- OpenSSH for rsync ---------------------------------------------------------------------------


def _rsync_quote(arg: str) -> str:
    """Quote one argument for rsync's own -e splitting (spaces split; in '...' a doubled ' is one)."""
    if arg and all(c.isalnum() or c in "-_=./:@,+%[]" for c in arg):
        return arg
    return "'" + arg.replace("'", "''") + "'"


def control_option(control: Path) -> str:
    """The option that names the shared connection's socket `control` (one of its ssh's arguments)."""
    return f"ControlPath={_ssh_option_path(control)}"


def _ssh_option_path(path: Path) -> str:
    """A path as an ssh_config value: quoted for ssh's own splitting, '%' kept from token expansion."""
    text = os.fspath(path)
    if "${" in text:
        raise WorkFailed(f"ssh cannot be given a path containing '${{': {text}")
    text = text.replace("%", "%%").replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _user_ssh_config() -> Path | None:
    """The ~/.ssh/config that paramiko read, when ssh would look elsewhere.

    ssh takes ~ from the password database, paramiko (and we) from $HOME; when they differ, -F
    makes ssh read the same file (at the price of /etc/ssh/ssh_config).
    """
    home = os.path.expanduser("~")
    try:
        if os.path.realpath(pwd.getpwuid(os.getuid()).pw_dir) == os.path.realpath(home):
            return None
    except KeyError:
        pass
    path = Path(home) / ".ssh" / "config"
    if not path.is_file():
        return None
    changeable_by_others(path, "ssh would take it with -F: its ProxyCommand would run as this user")
    return path


def ssh_argv(cfg: Config, source: Source, ep: Endpoint | None = None) -> list[str]:
    """ssh's options (without the host) that reach the source as paramiko does."""
    ep = ep or endpoint(source)
    argv = ["ssh"]
    user_config = _user_ssh_config()
    if user_config is not None:
        argv += ["-F", os.fspath(user_config)]
    argv += ["-p", str(ep.port)]
    for key in ep.identity_files:
        argv += ["-o", f"IdentityFile={_ssh_option_path(key)}"]
    if ep.identity_files:
        argv += ["-o", "IdentitiesOnly=yes"]
    files = " ".join(_ssh_option_path(p) for p in known_hosts_files(cfg))
    argv += [
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={files}",
        "-o", f"ConnectTimeout={CONNECT_TIMEOUT}",
        "-o", "ServerAliveInterval=30",
        "-o", "ServerAliveCountMax=4",
        "-l", ep.user,
    ]
    return argv


def shared_options(control: Path, *, master: bool) -> list[str]:
    """ssh options that open (`master`) or use the shared connection whose socket is `control`;
    a user of it connects directly when the shared connection is gone."""
    argv = ["-o", control_option(control)]
    if master:
        return argv + ["-o", "ControlMaster=yes", "-o", f"ControlPersist={SHARED_IDLE_SECONDS}"]
    return argv + ["-o", "ControlMaster=no"]


def login_argv(cfg: Config, source: Source, control: Path, ep: Endpoint | None = None) -> list[str]:
    """ssh logging in and staying open as the shared connection at `control`, without running
    anything: it returns as soon as the login is authenticated (ControlPersist takes it to the
    background), with 255 when it cannot log in."""
    return ssh_argv(cfg, source, ep) + shared_options(control, master=True) + ["-N", "--", source.host]


def client_argv(cfg: Config, source: Source, ep: Endpoint | None = None, control: Path | None = None) -> list[str]:
    """ssh's options (without the host) over the shared connection at `control`, when there is one."""
    argv = ssh_argv(cfg, source, ep)
    if control is not None:
        argv += shared_options(control, master=False)
    return argv


def command_argv(cfg: Config, source: Source, argv: list[str]) -> list[str]:
    """ssh running the program `argv` on the source as given, whatever the account's login shell
    (which reads the command line ssh sends: login_shell)."""
    return client_argv(cfg, source) + ["--", source.host, login_shell.command_line(argv)]


def whoami_argv(cfg: Config, source: Source, control: Path | None = None, ep: Endpoint | None = None) -> list[str]:
    """ssh running `whoami` on the source (over the shared connection at `control`)."""
    return client_argv(cfg, source, ep, control) + ["--", source.host, "whoami"]


def shared_exit_argv(cfg: Config, source: Source, control: Path, ep: Endpoint | None = None) -> list[str]:
    """ssh asking the shared connection whose socket is `control` to close."""
    return ssh_argv(cfg, source, ep) + ["-o", control_option(control), "-O", "exit", "--", source.host]


def rsync_rsh(cfg: Config, source: Source, ep: Endpoint | None = None, control: Path | None = None) -> str:
    """The value of rsync's -e for a remote source (over the shared connection at `control`). ssh
    prints only its errors (LogLevel ERROR): the server's banner, which ssh prints as it logs in
    (without a shared connection), would come on rsync's stderr among rsync's own lines, and a
    directory whose rsync 23 said only that files were read whole on the second try would warn.
    Its other lines below ERROR go too (a ServerAlive timeout's: rsync's own line of the lost
    connection stays); over a shared connection the client never printed them, the master does,
    to /dev/null once in the background. A ProxyJump host's ssh, which OpenSSH starts with no -o
    of ours, prints at its ~/.ssh/config level: its banner stays."""
    argv = client_argv(cfg, source, ep, control) + ["-o", "LogLevel=ERROR"]
    return " ".join(_rsync_quote(a) for a in argv)


def rsync_read_location(source: Source, path: str) -> str:
    """rsync_location of a directory the source's rsync reads (or a restore writes). Over SSH that
    rsync expands wildcards in the paths it is sent (as the remote shell did): "/srv/a*" would read
    "/srv/ab". A path holding one has its wildcards and backslashes escaped, so it matches itself
    only, or stays as sent, a path that is not there (which a restore must not make)."""
    return rsync_location(source, path if source.is_local else rsync.glob_escaped(path))


def rsync_location(source: Source, path: str) -> str:
    """rsync's name of a source directory, with a trailing slash (its contents)."""
    path = path if path.endswith("/") else path + "/"
    if source.is_local:
        return path
    host = source.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    user = f"{source.user}@" if source.user else ""
    return f"{user}{host}:{path}"
