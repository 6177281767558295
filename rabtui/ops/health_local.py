"""Health checks of the server's own directories (rabtui/ops/health.py): the state directory's
room, and who besides rabtui's user can read or change the state, the media's backups, the
checkpoint images and the config."""

from __future__ import annotations

import os
from pathlib import Path

from rabtui import privacy
from rabtui.config import Config, Source
from rabtui.config import safety as config_safety
from rabtui.errors import WorkFailed
from rabtui.ops import program_files, schedule
from rabtui.ops.problems import CRITICAL, FULL_WARN, WARNING, Problem
from rabtui.ssh.endpoint import endpoint, keys_tried
from rabtui.state.store_check import MIN_FREE_BYTES, MIN_FREE_INODES


def _open_problem(check_id: str, what: str, paths, fix: str | None = None) -> list[Problem]:
    """One problem for those of `paths` open to other users, with the chmod that closes them."""
    modes = {p: privacy.open_mode(p) for p in paths}
    opened = [p for p, mode in modes.items() if mode is not None]
    if not opened:
        return []
    shown = [f"{p} ({modes[p]:04o})" for p in opened[:5]]
    listed = ", ".join(shown) + (f" and {len(opened) - 5} more" if len(opened) > 5 else "")
    return [Problem(check_id, CRITICAL,
                    f"{what} open to other users: {listed}; fix: {fix or privacy.fix_command(opened)}")]


def _state_paths(state_dir: Path) -> list[Path]:
    """The state directory, what it holds, and what its logs/, locks/, checkpoints/ and media/ hold."""
    out = [state_dir]
    for sub in (state_dir, state_dir / "logs", state_dir / "locks", state_dir / "checkpoints", state_dir / "media"):
        try:
            out += sorted(Path(e.path) for e in os.scandir(sub))
        except OSError:
            pass
    return out


def state_space(cfg: Config) -> list[Problem]:
    """The state directory's room: below what a command needs to start (store_check refuses it),
    every backup, checkpoint and job started now fails at once, even under a UI that opened the
    database before it filled up."""
    try:
        st = os.statvfs(cfg.state_dir)
    except OSError:
        return []
    free, inodes = st.f_bavail * st.f_frsize, st.f_favail
    where = f"state directory {cfg.state_dir}"
    if free < MIN_FREE_BYTES or (st.f_files and inodes < MIN_FREE_INODES):
        return [Problem("full:state", CRITICAL, f"{where} is full ({free // 1024} KiB, {inodes} inodes free):"
                        " every backup, checkpoint and job started now fails; free space there")]
    used = max(1 - st.f_bavail / st.f_blocks if st.f_blocks else 0.0,
               1 - st.f_favail / st.f_files if st.f_files else 0.0)
    if used > FULL_WARN:
        return [Problem("full:state", WARNING, f"{where} is {used:.0%} full ({free // (1 << 20)} MiB free):"
                        " the catalog of each backup grows there")]
    return []


def privacy_problems(cfg: Config) -> list[Problem]:
    from rabtui.media.medium import read_label
    from rabtui.media.medium_layout import others_can_change_backups, private_dirs
    from rabtui.checkpoint import xorriso

    state = cfg.state_dir
    out = _open_problem("private:state", f"state directory {state}:", _state_paths(state),
                        privacy.fix_command([state], recursive=True))
    others = privacy.others_can_change(state)
    if others:
        out.append(Problem("others:state", CRITICAL, f"state directory {state}: {others}, so another user can"
                           " replace the database or what rabtui writes there; fix: give it and the directories"
                           " above it to this user or root (chown), closed to others (chmod go-w)"))
    for m in cfg.media:
        try:
            label = read_label(m.path)
        except Exception:
            continue
        if label and label.get("id") == m.id:
            out += _open_problem(f"private:{m.id}", f"medium {m.id}: backups", private_dirs(m.path))
            for s in cfg.sources:
                others = others_can_change_backups(m.path, s)
                if others:
                    out.append(Problem(f"others:{m.id}", CRITICAL, f"medium {m.id}: {others}, so another user can"
                                       f" read or change the backups of {s.id} (no backup of it goes there)"))
                    break
    if xorriso.is_image_drive(cfg.checkpoint.drive):
        folder = Path(xorriso.images_dir(cfg.checkpoint.drive))
        # a disc's image, and the one a killed burn was writing (it holds all that was written)
        paths = [folder] + (sorted([*folder.glob("*.iso"), *folder.glob("*.iso" + xorriso.WRITING)])
                            if folder.is_dir() else [])
        out += _open_problem("private:images", f"checkpoint images in {folder}:", paths)
        others = privacy.others_can_change(folder)
        if others:
            out.append(Problem("others:images", CRITICAL, f"checkpoint images in {folder}: {others}, so another"
                               " user can swap a file of their own in for an image; no disc is written there"))
    changeable = program_files.changeable(schedule.rabtui_argv(None))
    if changeable:
        out.append(Problem("others:program", CRITICAL, f"rabtui's program: {changeable}, so another user can have"
                           " their code run as this user (by the timer, or the next command); fix: give it to"
                           " this user or root, closed to others (chown, chmod go-w)"))
    changeable = config_safety.judged(cfg.notify.command, scheduled=True) if cfg.notify.command else None
    if changeable:
        out.append(Problem("others:notify", CRITICAL, f"notify.command: {changeable}, so another user can have"
                           " their code run as this user at the next event (it is not run); fix: give it to"
                           " this user or root, closed to others (chown, chmod go-w)"))
    for s in cfg.sources:
        found = config_safety.source_command_changeable(s, scheduled=True)   # as the timer runs them, wherever check is run
        if found:
            changeable = found[1]
            out.append(Problem(f"others:commands:{s.id}", CRITICAL, f"source {s.id}: a pre/post command or rsync_path runs what"
                               f" another user can change: {changeable} (its backups fail before it runs); fix:"
                               " give it to this user or root, closed to others (chown, chmod go-w)"))
    for s in cfg.sources:
        opened = [(key, mode) for key in _keys(s) if (mode := privacy.open_key(key)) is not None]
        if opened:
            key, mode = opened[0]
            out.append(Problem(f"private:key:{s.id}", CRITICAL, f"source {s.id}: identity file {key} is"
                               f" open to other users (mode {mode:04o}): whoever can read it logs in to the source"
                               f" (its backups fail: OpenSSH refuses it); fix: {privacy.fix_command([k for k, _ in opened])}"))
    exposed = privacy.exposed_config(cfg.path, cfg.notify.apprise_urls, cfg.notify.command) if cfg.path else None
    if exposed:
        out.append(Problem("private:config", CRITICAL, exposed))
    return out


def _keys(source: Source) -> list[Path]:
    """The key files a login to `source` reads: its identity_file, else those ~/.ssh/config names,
    else the default ones (~/.ssh/id_*)."""
    if source.identity_file is not None:
        return [source.identity_file]
    if source.is_local:
        return []
    try:
        return keys_tried(endpoint(source))
    except WorkFailed:      # a ~/.ssh/config that cannot be read: the login says it
        return []
