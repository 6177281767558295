"""Shared fixtures: a real sshd on 127.0.0.1, configs written as TOML files, trees to back up."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.sshd import SshServer, start_sshd

# Property tests drive real rsync and xorriso: few examples, no deadline (the machine is shared),
# and the same examples on every run so that `make test` is repeatable.
settings.register_profile(
    "rabtui", max_examples=10, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "rabtui"))

# The engine must work without a user config; never read the developer's own.
os.environ.pop("RABTUI_CONFIG", None)


@pytest.hookimpl(tryfirst=True)      # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    missing = [p for p in ("rsync", "ssh", "xorriso") if not shutil.which(p)]
    if missing:
        raise pytest.UsageError(f"the tests need {', '.join(missing)}: run them with `make test`")
    # the tests of a module that use a sandbox its fixture `_..._made` makes once (trees.made_once)
    # run in one process (`--dist loadgroup`), so that it is made once, not once in each
    for item in items:
        made = sorted(n for n in getattr(item, "fixturenames", ()) if n.startswith("_") and n.endswith("_made"))
        if made:
            item.add_marker(pytest.mark.xdist_group(f"{item.module.__name__}:{made[0]}"))
    # xdist hands out those groups first (the largest first), then the other tests in this order: those
    # marked slow (tens of seconds), the TUI's (seconds each), then the many short ones, so that no
    # process is left running a long test alone at the end while the others wait
    items.sort(key=lambda item: (item.get_closest_marker("slow") is None, not item.nodeid.startswith("tests/tui/")))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failure whose text holds a name that is not UTF-8 (surrogate escapes: captured output or
    log, an exception's message) is shown with those escaped: as it was, a test process could not
    send it to the run (execnet encodes UTF-8) and the whole run stopped with an INTERNALERROR
    naming the test but not what failed."""
    report = (yield).get_result()
    def sendable(text: str) -> str:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")

    report.sections = [(name, sendable(text)) for name, text in report.sections]
    if report.longrepr is not None and not isinstance(report.longrepr, tuple):
        text = str(report.longrepr)
        if sendable(text) != text:
            report.longrepr = sendable(text)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory) -> SshServer:
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture
def known_hosts(tmp_path, sshd) -> Path:
    """A known_hosts file that trusts the test sshd."""
    path = tmp_path / "known_hosts"
    path.write_text(sshd.known_hosts_line())
    return path


@pytest.fixture
def write_config(tmp_path):
    """Write a TOML config (dedented) into tmp_path and return its path."""

    def write(text: str, name: str = "rabtui.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        path.chmod(0o600)
        return path

    return write


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory):
    """Each test gets its own HOME, so ~/.ssh and the platformdirs files are never the developer's.
    Set apart from the test's `monkeypatch`, whose undo() (a test's patches taken back half-way)
    gave the rest of the test the developer's HOME: a console it ran saved its ui.json there."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HOME", str(home))
        env.setenv("XDG_CONFIG_HOME", str(home / ".config"))
        env.setenv("XDG_STATE_HOME", str(home / ".local/state"))
        env.setenv("XDG_DATA_HOME", str(home / ".local/share"))
        env.setenv("XDG_CACHE_HOME", str(home / ".cache"))
        yield home


@pytest.fixture
def open_base():
    """A directory below /tmp that other users may enter (pytest's tmp_path is closed to them),
    for the tests of what another user can do; removed afterwards."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="rabtui-others-", dir="/tmp"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base)


@pytest.fixture
def shm():
    """A directory on /dev/shm (a tmpfs, below /dev), removed afterwards; skipped where there is none."""
    import tempfile

    from tests.trees import remove_tree

    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm here")
    base = Path(tempfile.mkdtemp(prefix="rabtui-test-", dir="/dev/shm"))
    yield base
    remove_tree(base)


@pytest.fixture
def mem_path():
    """A directory on /dev/shm (a tmpfs) where there is one, else in the temp directory; removed
    afterwards. For tests whose cost is mostly making and removing directories (thousands, or a
    path hundreds deep), each a disk's milliseconds on a busy machine (see trees.in_memory)."""
    from tests.trees import in_memory

    with in_memory("rabtui-test-") as base:
        yield base


@contextlib.contextmanager
def _mounter(what: str):
    """mount(path, *mount_args): `mount *mount_args path` for a test, as root only (skipped
    otherwise); unmounted at its end."""
    mounted = []

    def mount(path: Path, *args: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip(f"mounting {what} needs root")
        path.mkdir(exist_ok=True)
        done = subprocess.run(["mount", *args, str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount {what} here: {done.stderr.strip()}")
        mounted.append(path)
        return path

    try:
        yield mount
    finally:
        for p in reversed(mounted):
            subprocess.run(["umount", "-l", str(p)], capture_output=True)


@pytest.fixture
def tmpfs():
    """mount(path, options): a small tmpfs mounted at `path` (made if missing) for the test, as root
    only (skipped otherwise); unmounted at its end."""
    with _mounter("a small tmpfs") as mount:
        yield lambda path, options: mount(path, "-t", "tmpfs", "-o", options, "tmpfs")


@pytest.fixture
def bind_mount():
    """mount(path, directory): `directory` bind-mounted at `path` (made if missing) for the test, as
    root only (skipped otherwise); unmounted at its end."""
    with _mounter("a bind mount") as mount:
        yield lambda path, directory: mount(path, "--bind", str(directory))


@pytest.fixture
def ramfs():
    """mount(path): a ramfs at `path` (made if missing) for the test, as root only (skipped
    otherwise): a file system that takes no xattr and tells no size (statvfs: 0 blocks, 0 free)."""
    with _mounter("a ramfs") as mount:
        yield lambda path: mount(path, "-t", "ramfs", "ramfs")


@pytest.fixture
def btrfs_noacl(tmp_path):
    """A small btrfs mounted `noacl` at tmp_path/noacl, as root only: it holds xattrs and refuses
    ACLs (EOPNOTSUPP), as no file system the kernel mounts otherwise does here (ext2-4 always take
    them). Skipped without mkfs.btrfs (btrfs-progs); unmounted at the test's end."""
    with _btrfs(tmp_path / "noacl.img", "a btrfs without ACLs") as mount:
        yield mount(tmp_path / "noacl", "-o", "loop,noacl")


@pytest.fixture
def btrfs(tmp_path):
    """mount(path): a small btrfs image mounted at `path` (made if missing), as root only: its files'
    st_dev is not the device /proc/self/mountinfo lists for it. Skipped without mkfs.btrfs;
    unmounted at the test's end."""
    with _btrfs(tmp_path / "btrfs.img", "a btrfs") as mount:
        yield lambda path: mount(path, "-o", "loop")


@contextlib.contextmanager
def _btrfs(image: Path, what: str):
    """mount(path, *mount_args) of a new 64 MB btrfs image at `image` (see _mounter)."""
    if shutil.which("mkfs.btrfs") is None:
        pytest.skip("mkfs.btrfs is not installed (btrfs-progs)")
    subprocess.run(["truncate", "-s", "64M", str(image)], check=True)
    done = subprocess.run(["mkfs.btrfs", "-q", "-f", "--mixed", str(image)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mkfs.btrfs failed: {done.stderr.strip()}")
    with _mounter(what) as mount:
        yield lambda path, *args: mount(path, *args, str(image))


@pytest.fixture
def disk_image(tmp_path):
    """An 8 MB ext2 image to give a medium as its `device` (mounted at tmp_path/medium1 by rabtui)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a disk image needs root")
    image = tmp_path / "usb.img"
    subprocess.run(["truncate", "-s", "8M", str(image)], check=True)
    done = subprocess.run(["mkfs.ext2", "-q", "-F", str(image)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mkfs.ext2 failed: {done.stderr}")
    probe = tmp_path / "probe"
    probe.mkdir()
    done = subprocess.run(["mount", str(image), str(probe)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a disk image here: {done.stderr.strip()}")
    subprocess.run(["umount", str(probe)], check=True)
    yield image
    mount_point = tmp_path / "medium1"
    if os.path.ismount(mount_point):   # a failed test must not leave it mounted
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


@pytest.fixture
def short_busy_timeout(monkeypatch):
    """SQLite's busy timeout of 30 s cut to a moment, for the connections of the run in this process."""
    from rabtui.state import store as store_module

    connect = store_module.connect

    def quick(path):
        conn = connect(path)
        conn.execute("PRAGMA busy_timeout=200")
        return conn

    monkeypatch.setattr(store_module, "connect", quick)
