"""`rabtui init` and `rabtui check-config`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from rabtui import config as configmod
from rabtui import fmt
from rabtui import command_safety
from rabtui import privacy
from rabtui.config import conflict_kept
from rabtui.config import edit as config_edit
from rabtui.config import safety as config_safety
from rabtui.config import schema as config_schema
from rabtui.config import write as config_write
from rabtui.actions import media as media_actions
from rabtui.actions import setup as setup_actions
from rabtui.errors import EXIT_OK, UsageError, WorkFailed

from .common import needs_action, open_store


def register(sub) -> None:
    p = sub.add_parser("init", help="write a commented starter configuration")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=cmd_init)
    p = sub.add_parser("check-config", help="validate the configuration (exit 2 with file:line on error)")
    p.set_defaults(func=cmd_check_config, reports=True)
    p = sub.add_parser("config", help="the configuration's description")
    group = p.add_subparsers(dest="config_command", metavar="ACTION")
    p.set_defaults(func=needs_action(p))
    group.add_parser("schema", help="print the JSON Schema of the configuration, for editors").set_defaults(
        func=cmd_config_schema, reports=True)


def cmd_init(args) -> int:
    path = Path(args.config) if args.config else configmod.default_path()
    if os.path.exists(path) and not args.force:     # False, not OSError, for a name too long
        raise UsageError(f"{path} exists already", hint="use --force to overwrite it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        config_edit.replace(path, config_write.starter_text(), anew=True)
    except OSError as exc:
        kept = f"; {path} is as it was" if os.path.lexists(path) else ""
        raise WorkFailed(f"could not write {path}: {exc.strerror or exc}{kept}") from None
    print(fmt.name(f"wrote {path}; edit it, then run: {configmod.command_for(path)} check-config"))
    return EXIT_OK


def cmd_config_schema(args) -> int:
    print(json.dumps(config_schema.json_schema(), indent=2))
    return EXIT_OK


def _refused_from_here(cfg) -> list[str]:
    """Why a command of `cfg` that the nightly run runs (judged from SCHEDULED_CWD with SCHEDULED_PATH)
    would be refused run by hand from this working directory with this PATH (`rabtui backup`)."""
    try:
        here = f"run by hand from {os.getcwd()} with this PATH"
    except FileNotFoundError:
        here = "run by hand from this removed directory"
    nightly = (f"the nightly run (from {command_safety.SCHEDULED_CWD}, PATH {':'.join(command_safety.SCHEDULED_PATH)})"
               " runs it")
    notes = []
    for i, s in enumerate(cfg.sources):
        found = config_safety.source_command_changeable(s)
        if found:
            key, why = found
            at = str(configmod.error_at(cfg.path, ("sources", i, *key), "-")).removesuffix(": -")
            notes.append(f"{at}: {here}, source {s.id}'s backup would refuse it: it runs what another user can"
                         f" change: {why}; {nightly}")
    if cfg.notify.command and (why := config_safety.judged(cfg.notify.command, scheduled=False)):
        notes.append(f"notify.command: {here}, it would not be run: it runs what another user can change: {why};"
                     f" {nightly}")
    return notes


def cmd_check_config(args) -> int:
    cfg = configmod.load(args.config)   # not load_config: its warning would say this twice
    exposed = privacy.exposed_config(cfg.path, cfg.notify.apprise_urls, cfg.notify.command)
    if exposed:
        raise UsageError(exposed)
    refused = config_edit.commands_not_run(cfg)     # as the console's form says it of a file it saved
    if refused:
        raise refused
    unsafe = config_safety.permission_problem(cfg.path)
    if unsafe:
        print(fmt.name(f"rabtui: warning: {unsafe}"), file=sys.stderr)
    for note in _refused_from_here(cfg):
        print(fmt.name(f"rabtui: warning: {note}"), file=sys.stderr)
    pending = conflict_kept.unsaid(cfg.path)
    if pending:     # named by each check until a save or the console says it
        print(fmt.name(f"rabtui: warning: {conflict_kept.unsaid_note(cfg.path, pending)}"), file=sys.stderr)
    problems = setup_actions.apprise_url_problems(cfg.notify.apprise_urls)
    if problems:   # checked here only: loading apprise on every command would slow them all
        raise configmod.error_at(cfg.path, ("notify", "apprise_urls"), "; ".join(problems))
    dirs = sum(len(s.directories) for s in cfg.sources)
    print(fmt.name(f"{cfg.path}: ok ({fmt.count(len(cfg.sources), 'source')}, {fmt.count(dirs, 'directory')},"
                   f" {fmt.count(len(cfg.media), 'medium')})"))
    store = open_store(cfg, records=False) if (cfg.state_dir / "rabtui.db").is_file() else None   # none made here
    for m in cfg.media:
        if m.device is None and not any(m.path.iterdir()) and not (m.path / ".rabtui-medium").exists():
            known = media_actions.known_because(store, m.id) if store is not None else None
            if known:
                print(fmt.name(f"  note: medium {m.id} at {m.path} is empty, but rabtui has used it ({known}):"
                               " is the disk mounted? a backup refuses it"), file=sys.stderr)
            else:
                print(fmt.name(f"  note: medium {m.id} at {m.path} is empty; it is labelled on first use"),
                      file=sys.stderr)
        elif store is not None and (other := media_actions.other_disk(store, m)):
            print(fmt.name(f"  note: medium {m.id}: {other}: a backup refuses it"), file=sys.stderr)
    for s in cfg.sources:
        if s.identity_file is not None and not s.identity_file.is_file():
            print(fmt.name(f"  warning: source {s.id}: identity_file {s.identity_file} is not a file here:"
                           " its backups fail"), file=sys.stderr)
        for d in s.directories:
            if s.is_local and not os.path.isdir(d.path):
                print(fmt.name(f"  warning: source {s.id}: directory {d.path} does not exist on this machine"),
                      file=sys.stderr)
    return EXIT_OK
