"""The demo sandbox: a local source with generated files, two media, an `images:` drive with small
discs (so a checkpoint spans several), a config file, and two real backups made by the engine.

Built under the user data directory (platformdirs) unless a directory is given. The same seed
gives the same tree, so screenshots and tests see stable data.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Callable

from rabtui import privacy
from rabtui.errors import UsageError

SOURCE_ID = "demo-host"
DISC = "16MiB"

CONFIG = """\
# rabtui demo sandbox: everything lives below this directory.
[rabtui]
state_dir = "state"

[checkpoint]
disc = "{disc}"                  # small discs, so a checkpoint spans several
drive = "images:iso"             # ISO files instead of a burner
max_discs = 64
max_changed_files = 1500
max_days = 30

[retention]
keep_all_days = 7
max_size_mb = 2000

[[media]]
id = "disk-a"
path = "media/disk-a"

[[media]]
id = "disk-b"
path = "media/disk-b"

[[sources]]
id = "{source}"
schedule = "0 2 * * *"
excludes = ["*.tmp"]

[[sources.directories]]
path = {documents}
kind = "standard"

[[sources.directories]]
path = {photos}
kind = "archive"
max_changed_files = 300
"""

WORDS = ("report", "invoice", "notes", "draft", "budget", "minutes", "plan", "letter", "summary", "todo")
TOPICS = ("projects", "finance", "letters", "archive", "team", "clients", "misc")


HEADER = CONFIG.split("\n", 1)[0].encode()      # how the sandbox's config begins


def not_a_sandbox(base: Path) -> str | None:
    """Why the sandbox must not be built in `base`, nor `base` removed for --fresh: it holds other
    files (a home, the operator's own config folder: the demo's config would replace theirs, and
    --fresh would remove them all). A folder that is not there, is empty, or holds a sandbox's config
    is one."""
    try:
        if not any(os.scandir(base)):
            return None
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"{base}: {exc.strerror}"
    try:
        with open(base / "rabtui.toml", "rb") as f:
            if f.read(len(HEADER)) == HEADER:
                return None
    except OSError:
        pass
    return f"{base} holds other files and no demo sandbox: nothing there is written over or removed"


# what a sandbox holds: its config (and the files a save of it makes beside it) and its folders
OWN = ("rabtui.toml", "source", "media", "iso", "state")


def not_its_own(base: Path) -> list[str]:
    """The names in the sandbox `base` that it does not make, sorted: a sandbox's config copied into
    a folder of other files made --fresh remove them all."""
    return sorted(name for name in os.listdir(base)
                  if name not in OWN and not name.startswith(("rabtui.toml.", ".rabtui.toml.")))


def default_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("rabtui")) / "demo"


def generate_source(root: Path, seed: int = 7, documents: int = 2400, photos: int = 500) -> None:
    """A few thousand small documents and some hundred larger 'photos' (~24 MiB in all)."""
    rng = random.Random(seed)
    docs = root / "documents"
    for i in range(documents):
        topic = TOPICS[i % len(TOPICS)]
        sub = docs / topic / f"{2020 + i % 6}" / f"{rng.randrange(1, 13):02d}"
        sub.mkdir(parents=True, exist_ok=True)
        name = f"{rng.choice(WORDS)}-{i:04d}.txt"
        lines = [" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(rng.randrange(2, 60))]
        (sub / name).write_text("\n".join(lines) + "\n")
    odd = docs / "odd names"
    odd.mkdir(exist_ok=True)
    for name in ("with space.txt", "quote's \"here\".txt", "-leading-dash.txt", "ünïcödé.txt"):
        (odd / name).write_text(f"{name}\n")
    (odd / b"latin1-\xe9t\xe9.txt".decode("utf-8", "surrogateescape")).write_text("not UTF-8\n")
    pics = root / "photos"
    for i in range(photos):
        album = pics / f"{2019 + i % 7}" / f"album-{i % 12:02d}"
        album.mkdir(parents=True, exist_ok=True)
        (album / f"IMG_{i:05d}.jpg").write_bytes(rng.randbytes(rng.randrange(16_000, 80_000)))


def change_source(root: Path, seed: int = 8) -> None:
    """What a day of work changes: some documents edited, a few photos added."""
    rng = random.Random(seed)
    docs = sorted((root / "documents" / "projects").rglob("*.txt"))
    for p in rng.sample(docs, 40):
        with open(p, "a") as f:
            f.write("edited\n")
    album = root / "photos" / f"new-album-{seed}"
    album.mkdir(parents=True, exist_ok=True)
    for i in range(25):
        (album / f"IMG_9{i:04d}.jpg").write_bytes(rng.randbytes(rng.randrange(20_000, 60_000)))


def write_config(base: Path) -> Path:
    path = base / "rabtui.toml"
    from rabtui.config.write import toml_value

    root = base / "source"      # any name: quoted as TOML writes it
    path.write_text(CONFIG.format(disc=DISC, source=SOURCE_ID, documents=toml_value((root / "documents").as_posix()),
                                  photos=toml_value((root / "photos").as_posix())))
    path.chmod(0o600)
    return path


def run_backup_job(cfg, store, source_id: str) -> str:
    """One backup as a job, as `rabtui backup` makes it, so that Runs shows it like any other; its outcome in words."""
    from rabtui.actions.backup import as_job
    from rabtui.state.jobs import JobRecorder

    recorder = JobRecorder(store, "backup", source_id, f"backup {source_id}", argv=["rabtui", "demo"])
    return as_job(cfg, store, source_id, recorder, emit=recorder.emit, prompter=None).summary


def build(base: Path | None = None, *, fresh: bool = False, backups: int = 3,
          progress: Callable[[str], None] = lambda m: None, documents: int = 2400, photos: int = 500) -> Path:
    """Make (or reuse) the sandbox; return its config path."""
    from rabtui import config as configmod
    from rabtui.state.store import Store

    base = Path(base) if base is not None else default_dir()
    problem = not_a_sandbox(base)
    if problem:
        raise UsageError(problem, hint="give --dir a new or empty folder")
    others = privacy.others_can_change(base)
    if others:      # a symlink of theirs where the config is written; the backups where they read them
        raise UsageError(f"{base}: {others}, who could have rabtui write elsewhere through a symlink of theirs;"
                         " nothing written", hint="give --dir a folder that only you and root can change")
    if fresh and base.exists():
        others = not_its_own(base)
        if others:
            named = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
            raise UsageError(f"{base} holds files that are not the sandbox's ({named}): --fresh removes nothing"
                             " there", hint="move them away, or give --dir another folder")
        shutil.rmtree(base)
    config_path = base / "rabtui.toml"
    if config_path.exists() and (base / "state" / "rabtui.db").exists():
        cfg = configmod.load(config_path)
        store = Store(cfg.state_dir)
        if store.one("SELECT 1 FROM backups WHERE status IN ('completed','warnings') LIMIT 1"):
            progress(f"using the demo sandbox in {base}")
            return config_path
    progress(f"building a demo sandbox in {base} ...")
    base.mkdir(parents=True, exist_ok=True)
    write_config(base)      # first: a build stopped half way is still known for a sandbox
    (base / "source").mkdir(parents=True, exist_ok=True)
    for d in ("media/disk-a", "media/disk-b", "iso", "state"):    # private, as rabtui's own would be
        privacy.private_dir(base / d)
    if not any((base / "source").iterdir()):
        generate_source(base / "source", documents=documents, photos=photos)
    cfg = configmod.load(config_path)
    store = Store(cfg.state_dir)
    for n in range(backups):
        if n:  # rotation: disk-a, disk-b, disk-a again (hard links into the first)
            change_source(base / "source", seed=7 + n)
        progress(f"backup {n + 1} of {backups} of {SOURCE_ID} ...")
        status = run_backup_job(cfg, store, SOURCE_ID)
        progress(f"  {status}")
    return config_path
