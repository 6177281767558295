"""keymap.toml: keys remapped by binding id (README lists the ids), e.g. `"goto.runs" = "f4"`.

An entry that would take a key another action has where both apply (the app's keys and a screen's
on that screen, a dialog's in that dialog), or a key the console keeps for itself (ctrl+q, ctrl+c,
ctrl+p, tab, the tables' arrows, enter and page keys), is not used, and the console says which and
why: Textual would let it take the key over silently, and a `q` that no longer quits or a `b` that
no longer backs up is found out when it is needed. The keys rabtui binds twice by design (`a` adds
a source on Sources and answers a question elsewhere) are its defaults, not checked here.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.keys import _normalize_key_list
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable

from rabtui.tui.settings import read_small


def keymap_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("rabtui")) / "keymap.toml"


def read(path: Path) -> tuple[dict[str, str], list[str]]:
    """The entries of the file (none when it is not there), and what is wrong with it (in a worker:
    the file may be on a file system that hangs)."""
    try:
        data = tomllib.loads(read_small(path).decode("utf-8"))
    except FileNotFoundError:
        return {}, []
    except OSError as exc:
        return {}, [f"not used: {exc.strerror or exc}"]
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        return {}, [f"not used: {exc}"]
    except ValueError:      # int() of a number longer than Python converts (sys.get_int_max_str_digits)
        return {}, [f"not used: invalid TOML: a number of more than {sys.get_int_max_str_digits()} digits"]
    bad = [k for k, v in data.items() if not isinstance(v, str)]
    if bad:
        return {}, [f"not used: {', '.join(bad)} must be key names (strings)"]
    return data, []


def bindings_of(cls: type) -> list[Binding]:
    """The bindings with an id that `cls` and its bases declare."""
    return [b for k in reversed(cls.__mro__) for b in vars(k).get("BINDINGS", [])
            if isinstance(b, Binding) and b.id]


def scopes(app: type[App], screens) -> list[list[Binding]]:
    """The bindings that apply together: the app's with each screen's; each dialog's of rabtui with
    the app's priority ones (a dialog ends the chain of the others: Screen._modal_binding_chain)."""
    def modal(cls: type) -> list[type]:
        return [c for sub in cls.__subclasses__() for c in (sub, *modal(sub))]

    dialogs = dict.fromkeys(c for c in modal(ModalScreen) if c.__module__.startswith("rabtui."))
    over_dialogs = [b for b in bindings_of(app) if b.priority]
    return [bindings_of(app) + bindings_of(cls) for cls in screens] + [over_dialogs + bindings_of(cls) for cls in dialogs]


def _reserved() -> dict[str, str]:
    """The keys no entry may take, with what they do (the bindings without an id, which a keymap
    cannot move: the app's, every screen's and the tables' that have the focus on each screen)."""
    out = {App.COMMAND_PALETTE_BINDING: "the command palette"}
    for cls in (App, Screen, DataTable):
        for k in cls.__mro__:
            for b in vars(k).get("BINDINGS", []):
                if isinstance(b, Binding) and not b.id:
                    for key in b.key.split(","):
                        out.setdefault(key.strip(), b.description or b.action.replace("_", " "))
    return out


def _keys(key_list: str) -> set[str]:
    return set(_normalize_key_list(key_list).split(","))


def checked(keymap: dict[str, str], scopes: list[list[Binding]]) -> tuple[dict[str, str], list[str]]:
    """The entries of `keymap` that can be used, and a line for each that cannot."""
    known = {b.id: b for scope in scopes for b in scope}
    problems = [f'"{bid}": no such binding id (README lists them)' for bid in keymap if bid not in known]
    # the footer and the help show an entry's keys as they are, an ESC in them sent to the terminal
    unnamed = [bid for bid, keys in keymap.items() if bid in known and not keys.isprintable()]
    problems += [f'"{bid}" = {keymap[bid]!r} not used: no key name holds a control or format character'
                 for bid in unnamed]
    keymap = {bid: keys for bid, keys in keymap.items() if bid not in unnamed}
    wanted = {bid: keys for bid, keys in keymap.items() if bid in known and _keys(keys) != _keys(known[bid].key)}
    reserved, refused = _reserved(), set()
    while True:      # a refused entry leaves its binding on its own key, which may clash with another entry
        clash = next(((bid, why) for bid in wanted if (why := _clash(bid, wanted, scopes, reserved))), None)
        if clash is None:
            break
        bid, why = clash
        refused.add(bid)
        problems.append(f'"{bid}" = "{wanted.pop(bid)}" not used: {why}')
    return {bid: keys for bid, keys in keymap.items() if bid in known and bid not in refused}, problems


def _clash(bid: str, wanted: dict[str, str], scopes: list[list[Binding]], reserved: dict[str, str]) -> str | None:
    keys = _keys(wanted[bid])
    for key in sorted(keys):
        if key in reserved:
            return f"{key} is kept for {reserved[key]}"
    for scope in scopes:
        if all(b.id != bid for b in scope):
            continue
        for b in scope:
            taken = keys & _keys(wanted.get(b.id, b.key)) if b.id != bid else set()
            if taken:
                return f"{', '.join(sorted(taken))} is {b.description or b.action} ({b.id}) already"
    return None
