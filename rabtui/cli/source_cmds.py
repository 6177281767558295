"""`rabtui sources list | test [ID] | trust ID`."""

from __future__ import annotations

import time

from typing import TYPE_CHECKING

from rabtui import events, fmt
from rabtui.actions import sources as source_actions
from rabtui.errors import EXIT_FAILED, EXIT_OK, RabtuiError, UsageError

from .common import TerminalPrompter, hint_lines, load_config, needs_action, print_json

if TYPE_CHECKING:
    from rabtui.config import Source


def register(sub) -> None:
    p = sub.add_parser("sources", help="list the sources, test that they are reachable, trust host keys")
    group = p.add_subparsers(dest="sources_command", metavar="ACTION")
    p.set_defaults(func=needs_action(p))

    q = group.add_parser("list", help="the configured sources")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(func=cmd_list, reports=True)

    q = group.add_parser("test", help="log in to each source (or one) and run whoami")
    q.add_argument("id", nargs="?", metavar="ID", help="only this source")
    q.set_defaults(func=cmd_test)

    q = group.add_parser("trust", help="accept a source's SSH host key after showing its fingerprint")
    q.add_argument("id", metavar="ID")
    q.add_argument("--yes", action="store_true", help="accept without asking (for scripts); never replaces a key")
    q.add_argument("--replace", action="store_true",
                   help="replace a changed key after showing the old and the new fingerprints")
    q.set_defaults(func=cmd_trust)


def _where(source: Source) -> str:
    if source.is_local:
        return "local machine"
    user = f"{source.user}@" if source.user else ""
    port = f":{source.port}" if source.port else ""
    return f"{user}{source.host}{port}"


def cmd_list(args) -> int:
    cfg = load_config(args, check_media=False)
    if args.json:
        print_json([
            {"id": s.id, "host": s.host, "user": s.user, "port": s.port,
             "identity_file": str(s.identity_file) if s.identity_file else None, "schedule": s.schedule,
             "directories": [{"path": d.path, "kind": d.kind} for d in s.directories]}
            for s in cfg.sources
        ])
        return EXIT_OK
    if not cfg.sources:
        print(fmt.name(f"no sources in {cfg.path}"))
        return EXIT_OK
    width = max(len(s.id) for s in cfg.sources)
    for s in cfg.sources:
        dirs = ", ".join(f"{d.path} ({d.kind})" for d in s.directories) or "no directories"
        schedule = f"  schedule {s.schedule}" if s.schedule else ""
        print(fmt.name(f"{s.id:<{width}}  {_where(s)}  {dirs}{schedule}"))
    return EXIT_OK


def cmd_test(args) -> int:
    cfg = load_config(args, check_media=False)
    sources = [cfg.source(args.id)] if args.id else list(cfg.sources)
    if not sources:
        print(fmt.name(f"no sources in {cfg.path}"))
        return EXIT_OK
    width = max(len(s.id) for s in sources)
    failed = 0
    whoami = source_actions.whoami   # loaded before the clock starts: the times shown are the logins'
    for source in sources:
        started = time.monotonic()
        try:
            answer = whoami(cfg, source)
            state, detail = "ok", fmt.name(f"{answer.where}  whoami: {answer.user}")   # the source's words
        except RabtuiError as exc:
            failed += 1
            state, detail = "FAILED", ("\n" + " " * (width + 2)).join([fmt.name(exc.message), *hint_lines(exc)])
        print(f"{source.id:<{width}}  {state:<6}  ({time.monotonic() - started:.2f} s)  {detail}", flush=True)
    return EXIT_FAILED if failed else EXIT_OK


def cmd_trust(args) -> int:
    cfg = load_config(args, check_media=False)
    source = cfg.source(args.id)
    if source.is_local:
        raise UsageError(f"source {source.id} is the local machine: it has no host key to trust")
    info = source_actions.scan_host_key(cfg, source)
    print(fmt.name(f"source {source.id}: {info.host} port {info.port}"))
    print(f"  key type:    {info.key_type}")
    print(f"  fingerprint: {info.fingerprint}")
    if info.known:
        print(fmt.name(f"already trusted (in {', '.join(str(f) for f in info.files)})"))
        return EXIT_OK
    if info.status == "changed" and args.replace:
        return _replace(cfg, source, info, args.yes)
    if info.status in ("changed", "revoked"):
        source_actions.trust(cfg, source, info)   # refuses with the loud message
    if not _confirmed("trust_host", f"Trust this host key for {source.id} ({info.host} port {info.port},"
                      f" {info.fingerprint})?", {"source": source.id, "fingerprint": info.fingerprint}, args.yes):
        print("not trusted; nothing written")
        return EXIT_FAILED
    path = source_actions.trust(cfg, source, info)
    print(fmt.name(f"trusted: added {info.name} to {path}"))
    return EXIT_OK


def _confirmed(kind: str, text: str, data: dict, yes: bool) -> bool:
    """The operator's yes to the question `kind` (asked on the terminal; `yes`: --yes gave it)."""
    prompter = TerminalPrompter(auto={kind: events.YES} if yes else None, yes_answers={kind})
    return prompter.ask(events.Question(kind=kind, text=text, choices=(events.NO, events.YES), data=data)) == events.YES


def _replace(cfg, source, info, yes: bool) -> int:
    print(fmt.name(f"HOST KEY CHANGED: the trusted key on file is {info.expected} ({', '.join(info.lines)})"))
    print(f"  the host now presents {info.key_type} {info.fingerprint}")
    if not _confirmed("replace_host_key", f"Replace the trusted host key of {source.id} ({info.expected}) with"
                      f" {info.key_type} {info.fingerprint}? Only if the host's administrator confirms the new key.",
                      {"source": source.id, "old": info.expected, "fingerprint": info.fingerprint}, yes):
        print("not replaced; nothing written")
        return EXIT_FAILED
    path = source_actions.replace(cfg, source, info)
    print(fmt.name(f"replaced: {info.name} now trusted as {info.key_type} {info.fingerprint} in {path}"))
    return EXIT_OK
