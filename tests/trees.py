"""Test trees: small file trees (including hostile names) and configs that back them up."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import stat
import subprocess
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from rabtui import config as configmod
from rabtui.events import Event
from rabtui.state.store import Store

# Names that break naive scripts: spaces, quotes, newline, CR, tab, leading dashes, non-UTF-8
# bytes, a backslash, something that looks like rsync's own escape, shell and glob characters.
HOSTILE_NAMES = [
    b"with space",
    b"single'quote",
    b'double"quote',
    b"new\nline",
    b"carriage\rreturn",
    b"tab\tname",
    b"-leading-dash",
    b"--rsync-option=x",
    b"latin1-\xe9t\xe9",
    b"bytes-\xff\xfe\x80",
    b"back\\slash",
    b"looks-escaped-\\#012",
    b"pipe|and|bars",
    b"glob*?[x]",
    b"dollar$HOME`id`",
    "unicod\u00e9-\u2603".encode(),
]


def path_target(length: int) -> str:
    """A symlink target of at most `length` bytes, as deep as paths get: 8-byte names joined by
    slashes. In one directory, three links with 764-byte targets are written by xorriso 1.5.4 and
    four are not (libisofs 1.5.4 miscounts their continuation area: checkpoint/continuation.py)."""
    names = max(1, (length + 1) // 9)
    return "/".join(["abcdefgh"] * names)


def write_files(root: str | os.PathLike, files: dict) -> None:
    """`files`: relative path (str or bytes) -> content (bytes, str, or int for that many bytes)."""
    root_b = os.fsencode(root)
    for rel, content in files.items():
        rel_b = rel if isinstance(rel, bytes) else rel.encode()
        path = os.path.join(root_b, rel_b)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if isinstance(content, int):
            content = os.urandom(content)
        elif isinstance(content, str):
            content = content.encode()
        with open(path, "wb") as f:
            f.write(content)


def fill_up(path: str | os.PathLike) -> None:
    """A file at `path` that takes what its file system has left, to the last byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def hostile_tree(root: str | os.PathLike) -> dict[bytes, bytes]:
    """A tree of hostile names (files, and a directory with a hostile name holding one of each)."""
    files: dict[bytes, bytes] = {}
    for i, name in enumerate(HOSTILE_NAMES):
        files[name] = b"content %d of " % i + name
        files[b"dir " + name + b"/" + name] = b"nested %d" % i
    write_files(root, files)
    return files


@contextlib.contextmanager
def ext2_mounted(where: Path, *options: str) -> Iterator[Path]:
    """A new 32 MiB ext2 file system (mkfs.ext2 `options`) loop-mounted, empty, at `where` (root
    only: skipped otherwise), its image beside it; unmounted and removed at the end."""
    import pytest     # here: benchmarks import this module too

    if os.geteuid() != 0:
        pytest.skip("mounting a loop file system needs root")
    image = where.parent / f"{where.name}.ext2"
    with open(image, "wb") as f:
        f.truncate(32 << 20)
    made = subprocess.run(["mkfs.ext2", "-q", "-F", *options, str(image)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make an ext2 file system here: {made.stderr.strip()}")
    done = subprocess.run(["mount", "-o", "loop", str(image), str(where)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a loop file system here: {done.stderr.strip()}")
    try:
        os.rmdir(where / "lost+found")     # an empty medium is labelled on first use
        yield where
    finally:
        unmounted(where)
        image.unlink()


def unmounted(path: str | os.PathLike) -> None:
    """Whatever is mounted at `path` unmounted, each mount stacked there too."""
    while os.path.ismount(path):
        subprocess.run(["umount", str(path)], check=True)


def remove_tree(base: str | os.PathLike) -> None:
    """Remove `base` and all below it, a backup's closed directories opened first."""
    for dirpath, dirnames, _files in os.walk(base):
        for name in dirnames:
            if not os.path.islink(p := os.path.join(dirpath, name)):
                os.chmod(p, stat.S_IMODE(os.lstat(p).st_mode) | 0o700)
    shutil.rmtree(base)


MEMORY_NEEDED = 1 << 30     # free on /dev/shm for in_memory to use it: the tests' sandboxes there at once, with room


def _memory() -> str | None:
    """/dev/shm if it is there with room (a container's is often 64 MB), else None."""
    try:
        free = os.statvfs("/dev/shm")
    except OSError:
        return None
    return "/dev/shm" if free.f_bavail * free.f_frsize >= MEMORY_NEEDED and os.access("/dev/shm", os.W_OK) else None


@contextlib.contextmanager
def in_memory(prefix: str) -> Iterator[Path]:
    """A new directory on /dev/shm (a tmpfs) where there is one with room, else in the temp
    directory; removed at the end. For tests whose histories or sandboxes make and remove thousands
    of small directories and files and sync their records, which cost milliseconds each on a busy
    disk and next to nothing on a tmpfs. What they check (the engine's own decisions) is the same
    on both."""
    base = Path(tempfile.mkdtemp(prefix=prefix, dir=_memory()))
    try:
        yield base
    finally:
        remove_tree(base)


def snapshot(root: str | os.PathLike) -> dict[bytes, bytes]:
    """Every regular file under root: relative path (bytes) -> content."""
    root_b = os.fsencode(root)
    out = {}
    for dirpath, _dirs, names in os.walk(root_b):
        for name in names:
            path = os.path.join(dirpath, name)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    out[os.path.relpath(path, root_b)] = f.read()
    return out


def config_text(state_dir: Path, media: list[tuple[str, Path]], sources: str) -> str:
    out = f'[rabtui]\nstate_dir = "{state_dir}"\n'
    for mid, path in media:
        out += f'\n[[media]]\nid = "{mid}"\npath = "{path}"\n'
    return out + "\n" + textwrap.dedent(sources)


def notify_into_file(lab: "Lab", tmp_path: Path) -> Callable[[], list[dict]]:
    """A notify command whose script keeps each event it gets beside the lab; a function giving
    the events (JSON, as sent) kept so far."""
    notified, script = tmp_path / "notified", tmp_path / "alert.sh"
    script.write_text(f"cat >> {notified}; echo >> {notified}\n")
    lab.config_path.write_text(lab.config_path.read_text() + f'\n[notify]\ncommand = "sh {script}"\n')

    def sent() -> list[dict]:
        lines = notified.read_text().splitlines() if notified.exists() else []
        return [json.loads(line) for line in lines if line.strip()]
    return sent


def next_second() -> None:
    """Sleep until the clock is in its next second: a backup started now is named (its start, to the
    second) after every backup started before the call, however quick the machine."""
    time.sleep(1 - time.time() % 1 + 0.01)


def gate_command(path: str | os.PathLike) -> str:
    """A shell command that waits until `path` exists (at most 60 s): a pre-backup command that
    holds its backup in step 4 until the test lets it go on, however slow the machine."""
    return f"for i in $(seq 1200); do [ -e {path} ] && break; sleep 0.05; done"


def ssh_source_lines(sshd, source_id: str = "web", host: str | None = None) -> str:
    """The TOML of a source on the test sshd (`host`: another name for it, ~/.ssh/config's)."""
    return (
        f'[[sources]]\nid = "{source_id}"\nhost = "{host or sshd.host}"\nport = {sshd.port}\n'
        f'user = "{sshd.user}"\nidentity_file = "{sshd.identity_file}"\n'
    )


class Lab:
    """A sandbox: a source tree, media directories, a state dir and a config that ties them."""

    def __init__(self, tmp_path: Path, media_count: int = 2):
        self.tmp = tmp_path
        self.src = tmp_path / "src"
        self.src.mkdir(exist_ok=True)      # exists in a copy of a sandbox made before
        self.state = tmp_path / "state"
        self.media = [(f"m{i + 1}", tmp_path / f"medium{i + 1}") for i in range(media_count)]
        for _, path in self.media:
            path.mkdir(exist_ok=True)
        self.config_path = tmp_path / "rabtui.toml"
        self.events: list[Event] = []

    def trust(self, sshd) -> None:
        """The test sshd's host key trusted, as `rabtui sources trust` leaves it."""
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "known_hosts").write_text(sshd.known_hosts_line())

    def write(self, sources: str) -> configmod.Config:
        self.config_path.write_text(config_text(self.state, self.media, sources))
        self.config_path.chmod(0o600)
        return self.load()

    def load(self) -> configmod.Config:
        return configmod.load(self.config_path, check_media=False)

    def on_device(self, medium_path, device) -> None:
        """The medium at `medium_path` mounted from `device` (its config line added)."""
        self.config_path.write_text(self.config_path.read_text().replace(
            f'path = "{medium_path}"\n', f'path = "{medium_path}"\ndevice = "{device}"\n'))

    def keep_a_day(self) -> None:
        """Retention that keeps each backup a day and nothing beyond (a [retention] table added)."""
        self.config_path.write_text(self.config_path.read_text().replace(
            "[[media]]", "[retention]\nkeep_all_days = 1\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
            "keep_monthly_months = 0\nkeep_yearly_years = 0\n[[media]]", 1))

    def local(self, dirs: list[tuple[str, str]] | None = None, extra: str = "", source_id: str = "loc") -> configmod.Config:
        """A local source with the given (relative dir, kind) directories under self.src."""
        return self.write(self._local_source(dirs, extra, source_id))

    def _local_source(self, dirs: list[tuple[str, str]] | None, extra: str, source_id: str) -> str:
        text = f'[[sources]]\nid = "{source_id}"\n{extra}\n'
        for rel, kind in dirs or [("data", "standard")]:
            (self.src / rel).mkdir(parents=True, exist_ok=True)
            text += f'[[sources.directories]]\npath = "{self.src / rel}"\nkind = "{kind}"\n'
        return text

    def with_discs(self, disc: str, dirs: list[tuple[str, str]] | None = None, more: str = "") -> configmod.Config:
        """A local source `loc` with the given (relative dir, kind) directories (one standard
        directory, src/data, by default); checkpoints of `disc` onto an `images:` drive in iso/ beside
        the media. `more`: lines after the [checkpoint] table's (its own keys, then other tables)."""
        return self.write(self._local_source(dirs, "", "loc")
                          + f'\n[checkpoint]\ndisc = "{disc}"\ndrive = "images:{self.tmp / "iso"}"\n{more}')

    def lose_database(self) -> None:
        """The state's database gone, its -wal and -shm too (the disk it was on died)."""
        for name in os.listdir(self.state):
            if name.startswith("rabtui.db"):
                os.unlink(self.state / name)

    def store(self) -> Store:
        return Store(self.state)

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def backup(self, cfg, source_id: str = "loc", *, cancel: threading.Event | None = None, **kw):
        from rabtui.backup.pipeline import run_backup

        return run_backup(cfg, self.store(), source_id, emit=self.emit, cancel=cancel or threading.Event(), **kw)

    def messages(self, kind: str | None = None) -> list[str]:
        return [e.message for e in self.events if kind is None or e.kind == kind]


def restore_without(caps: str, lab: "Lab", path: str, to: str | os.PathLike, checkpoint: int | None = None) -> dict:
    """The JSON report of a restore of `path` of source `loc` into `to`, run as root without the
    capabilities `caps` (setpriv's list, e.g. "mknod"): as on a target that cannot hold what they
    stand for. An incomplete restore's report too."""
    import sys

    code = (
        "import json\n"
        "from rabtui import config\n"
        "from rabtui.restore import run as restore\n"
        "from rabtui.state import store\n"
        f"cfg = config.load({str(lab.config_path)!r}, check_media=False)\n"
        "try:\n"
        f"    r = restore.restore(cfg, store.Store({str(lab.state)!r}), 'loc', {path!r}, to={str(to)!r},"
        f" checkpoint={checkpoint!r})\n"
        "except restore.RestoreIncomplete as exc:\n"
        "    r = exc.result\n"
        "print(json.dumps(r.as_json(0)))\n")
    dropped = ",".join(f"-{c}" for c in caps.split(","))
    done = subprocess.run(["setpriv", f"--bounding-set={dropped}", f"--inh-caps={dropped}", sys.executable, "-c", code],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def burn_due(cfg, store, asked: set[str] | None = None, *, plan=None, verified: bool = False) -> int:
    """Record the checkpoint due now (`asked`: directories made due, "*" all; or `plan`, computed
    already) and write every disc of it, answering "ready" to each question; it must complete, and
    with `verified` its one disc verify again. Returns its number."""
    from rabtui.checkpoint import prepare, run
    from rabtui.events import READY, ScriptedPrompter

    plan = plan or prepare.compute(cfg, store, asked=asked)
    number = prepare.record(cfg, store, plan, drive=cfg.checkpoint.drive)
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                              prompter=ScriptedPrompter(lambda q: READY))
    assert res.status == "completed", res.message
    if verified:
        checked = run.verify_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                                        prompter=ScriptedPrompter(lambda q: READY))
        assert (checked.verified, checked.unchecked) == ([1], {}), checked.message
    return number


T = TypeVar("T")


def sandbox_fixtures(set_up: Callable[[Path], tuple], name: str, media_count: int = 1):
    """The fixtures `_sandbox_made` and `name` of a module whose tests each get anew, in lab.tmp, the
    sandbox set_up(tmp_path) made once for the module (made_once): set_up returns (lab, cfg, store,
    *more), and so does the fixture `name` (`more` as set_up returned it: numbers, paths in the
    sandbox, which is put back where it was made). Assign both: `_sandbox_made, x = ...`."""
    import copy

    import pytest

    @pytest.fixture(scope="module", name="_sandbox_made")
    def made_fixture(tmp_path_factory):
        def make(live):
            lab, _cfg, store, *more = set_up(live)
            store.close()
            closed(lab)
            return more

        yield from made_once(tmp_path_factory, make)

    @pytest.fixture(name=name)
    def fixture(_sandbox_made):
        more, made = _sandbox_made
        lab = Lab(made.anew(), media_count=media_count)
        return (lab, lab.load(), lab.store(), *copy.deepcopy(more))

    return made_fixture, fixture


class MadeOnce:
    """A sandbox made once (for a module or the session) and given to each test as it was made, at
    the place it was made: its config, state, labels and backups name absolute paths. `cp -a` keeps
    hard links, modes, times and xattrs. The copy a test used is removed while the next test runs:
    removing thousands of entries can take seconds on a disk mounted with `discard`, more than the
    copy, and is mostly waiting. Call done() when no test needs it any more."""

    def __init__(self, live: Path):
        self.live = live
        # a name no longer than live's: a test's paths go up to PATH_MAX below live
        self.as_made = live.with_name("made")
        assert len(self.as_made.name) <= len(live.name) and live.name != "made", live
        self._removal: threading.Thread | None = None
        subprocess.run(["cp", "-a", "--", str(live), str(self.as_made)], check=True)

    def anew(self) -> Path:
        # copied beside, then put in place at once: a thread of the test before (its app's poll of the
        # database, ending under load) that opens live's database meanwhile made its -wal in the
        # half-made copy, and cp refused to write the one it copies
        fresh = self.live.with_name("next")
        assert len(fresh.name) <= len(self.live.name) and fresh.name not in (self.live.name, self.as_made.name), fresh
        shutil.rmtree(fresh, ignore_errors=True)
        subprocess.run(["cp", "-a", "--", str(self.as_made), str(fresh)], check=True)
        self._put_away()
        try:
            fresh.rename(self.live)
        except OSError:       # such a thread made live's state directory again in between
            self._put_away()
            fresh.rename(self.live)
        return self.live

    def _put_away(self) -> None:
        """The copy a test used, if any, moved aside and removed while the next test runs."""
        if not self.live.exists():
            return
        self.done()
        used = Path(tempfile.mkdtemp(prefix="used-", dir=self.live.parent))
        self.live.rename(used / self.live.name)
        self._removal = threading.Thread(target=shutil.rmtree, args=(used,), kwargs={"ignore_errors": True},
                                         name="removal of a used sandbox", daemon=True)
        self._removal.start()

    def done(self) -> None:
        if self._removal is not None:
            self._removal.join()
            self._removal = None


def closed(lab: "Lab") -> None:
    """The lab's database with its WAL written back and no connection of this process left open to it,
    for made_once to copy: a connection closed later would remove the WAL at its path, the copy's."""
    gc.collect()
    store = lab.store()
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


def made_once(tmp_path_factory, make: Callable[[Path], T], *, memory: bool = False) -> Iterator[tuple[T, MadeOnce]]:
    """The body of a module- or session-scoped fixture: make(live) once, in a directory of its own
    (`memory`: on /dev/shm, see in_memory); yields what make returned and the MadeOnce of live (each
    test calls its anew()). A module's is named `_..._made`, so that its tests run in one process
    (see conftest)."""
    with contextlib.ExitStack() as scratch:
        base = scratch.enter_context(in_memory("rabtui-made-")) if memory else tmp_path_factory.mktemp("made")
        live = base / "live"
        live.mkdir()
        what = make(live)
        made = MadeOnce(live)
        yield what, made
        made.done()
