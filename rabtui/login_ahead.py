"""A backup's SSH login, started before the program has read its configuration.

Step 1's login takes about a quarter of a second; before it can be built, the interpreter, the
modules and the configuration take another tenth. So `rabtui backup` remembers the login it
started (its argv, in the user's cache directory) under its own command line, and the next run
of the same command line starts that login first thing, while the rest of the program loads.
Once the configuration is read, step 1 builds the login as always and takes the early one over
only when its argv is the very same; otherwise the early login is closed before anything uses
it. An out-of-date memory so costs a login that runs nothing on the source (`ssh -N`), never a
wrong backup.

The memory is used only while the configuration file and ~/.ssh/config are the very files
(device, inode, size, modification time) it was made with, and only when the memory file
belongs to the user and nobody else may write to it. This module is loaded before anything
else: it imports json, and the runner when it starts a login.
"""

from __future__ import annotations

import json
import os

FILE_NAME = "logins.json"
KEEP = 16                  # command lines remembered (a cron table's worth)
DIR_PREFIX = "rabtui-ssh-"

_key: str | None = None    # the command line of this process, once `start` has seen it
_pending: Ahead | None = None


class Ahead:
    """A login started from memory, in its own private directory `dir` (its socket: dir/mux)."""

    def __init__(self, started, dir: str, argv: list[str], exit_argv: list[str]):
        self.started, self.dir, self.argv, self.exit_argv = started, dir, argv, exit_argv

    def discard(self) -> None:
        """Stop it; a login that got as far as its shared connection is asked to close that too."""
        import shutil

        from rabtui import proc

        self.started.kill()
        if os.path.exists(os.path.join(self.dir, "mux")):
            try:
                proc.start(self.exit_argv).finish(timeout=10)
            except Exception:
                pass   # the connection closes itself once idle
        shutil.rmtree(self.dir, ignore_errors=True)


def start(argv: list[str]) -> None:
    """Start the login remembered for this command line, when it still holds (`take` hands it over)."""
    global _key, _pending
    if "backup" not in argv:
        return
    # The memory only saves time: whatever is wrong with it (unreadable, mistyped, outdated)
    # means no early login, and the backup starts its login as it always did.
    try:
        _key = json.dumps([os.getcwd(), argv, os.path.expanduser("~"),
                           os.environ.get("RABTUI_CONFIG"), os.environ.get("XDG_CONFIG_HOME")])
        entry = _read().get(_key)
        if (not entry or _file_id(entry["config"]) != entry["config_id"]
                or _file_id(_ssh_config()) != entry["ssh_config_id"]):
            return
        old = entry["dir"]
        new = os.path.join(os.path.dirname(old), DIR_PREFIX + os.urandom(4).hex())
        os.mkdir(new, 0o700)
    except Exception:
        return
    try:
        from rabtui import proc

        login = [arg.replace(old, new) for arg in entry["argv"]]
        _pending = Ahead(proc.start(login), new, login, [arg.replace(old, new) for arg in entry["exit_argv"]])
    except Exception:
        os.rmdir(new)


def take() -> Ahead | None:
    """The login `start` began, for step 1 to take over or discard."""
    global _pending
    ahead, _pending = _pending, None
    return ahead


def discard() -> None:
    """At the end of the program: close an early login nothing took."""
    ahead = take()
    if ahead is not None:
        ahead.discard()


def remember(config_path: os.PathLike, control_dir: os.PathLike, argv: list[str], exit_argv: list[str]) -> None:
    """Remember the login step 1 started for this command line (when `start` saw one), its private
    directory `control_dir`, and how to ask its shared connection to close."""
    if _key is None:
        return
    path = _memory_path()
    try:
        memory = _read()
        memory.pop(_key, None)
        memory[_key] = {
            "config": os.fspath(config_path), "config_id": _file_id(config_path),
            "ssh_config_id": _file_id(_ssh_config()),
            "dir": os.fspath(control_dir), "argv": argv, "exit_argv": exit_argv,
        }
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        temp = f"{path}.{os.getpid()}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(dict(list(memory.items())[-KEEP:]), f)
        os.replace(temp, path)
    except OSError:
        pass    # a read-only home: no memory, no early login


def _memory_path() -> str:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "rabtui", FILE_NAME)


def _read() -> dict:
    try:
        fd = os.open(_memory_path(), os.O_RDONLY)
    except OSError:
        return {}
    with os.fdopen(fd) as f:
        st = os.fstat(f.fileno())
        if st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return {}    # somebody else could have put a command into it
        try:
            memory = json.load(f)
        except ValueError:
            return {}
    return memory if isinstance(memory, dict) else {}


def _ssh_config() -> str:
    return os.path.expanduser("~/.ssh/config")


def _file_id(path) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]
