"""A name that begins with a dash (`rabtui find -rf`, a file named `-x` to restore) is taken by
argparse for an option, which then says that an argument is missing or unrecognized. The parser's
error says instead that the command has no such option, and how to write the name: after `--`,
as the command line with the options first (`rabtui find -- -rf`)."""

from __future__ import annotations

import argparse
import math
import re
import shlex

_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")     # argparse takes these for positionals (no option looks like one)


def mistaken_option(parser: argparse.ArgumentParser) -> tuple[argparse.ArgumentParser, str, str] | None:
    """(the parser of the command, the error, its hint) when the words the innermost parser read (of the chain below
    `parser`'s top) hold a dashed word that is none of its options and would fit among its
    positionals; None otherwise. The parsers record the words they read (`words_read`) and their parent (`parent_parser`)."""
    chain = _parsed_chain(parser)
    inner = chain[-1]
    if any(isinstance(a, argparse._SubParsersAction) for a in inner._actions):
        return None       # a group of commands (`rabtui media`): its words name a command, not a file
    words = list(inner.words_read)
    opts, pos, dashed = [], [], None
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--":
            pos += words[i:]
            break
        if not word.startswith("-") or word == "-" or _NUMBER.match(word):
            pos.append(word)
            continue
        action = _option(inner, word)
        if action is None:
            pos.append(word)
            dashed = dashed or word
            continue
        opts.append(word)
        if action.nargs in (None, 1) and "=" not in word and not _short_joined(word):   # its value
            if i == len(words) or _taken_for_option(words[i]):
                return None     # argparse's own error says the value is missing (dashed_value)
            opts.append(words[i])
            i += 1
    if dashed is None:
        return None
    positionals = [a for a in inner._actions if not a.option_strings]
    if len(pos) > sum(_words_taken(a) for a in positionals):
        return None
    top = chain[0].words_read
    before = top[:len(top) - len(words)] if top[len(top) - len(words):] == words else inner.prog.split()[1:]
    what = _named(positionals, pos.index(dashed))
    command = inner.prog.split(" ", 1)[1] if " " in inner.prog else inner.prog
    return (inner, f"{command} has no option {dashed}",
            f"{what} that begins with a dash is written after --: rabtui {shlex.join([*before, *opts, '--', *pos])}")


def dashed_value(parser: argparse.ArgumentParser, message: str) -> tuple[str, str] | None:
    """(the error, its hint) when argparse's `message` says an option of `parser` missed its value
    because the word after it begins with a dash (`--disc -5MiB`), taken for an option; None
    otherwise (the value is really missing: what follows is an option of the command)."""
    m = re.fullmatch(r"argument (\S+): expected one argument", message)
    words = parser.words_read or []
    if m is None:
        return None
    names = m.group(1).split("/")
    for i in range(len(words) - 2, -1, -1):
        if words[i] in names and _taken_for_option(words[i + 1]) and _option(parser, words[i + 1]) is None:
            option, value = words[i], words[i + 1]
            longest = max(names, key=len)
            return (f"{option} needs a value: {value} begins with a dash and was taken for an option",
                    f"a value that begins with a dash is joined to its option: {longest}={value}")
    return None


def valueless(parser: argparse.ArgumentParser, message: str) -> str | None:
    """argparse's "ignored explicit argument" (`-irf`, `--json=1`) said as what it is: the option
    takes no value (short options run together after it are not options of the command)."""
    m = re.fullmatch(r"argument (\S+): ignored explicit argument '(.*)'", message, re.DOTALL)
    if m is None:
        return None
    names, given = m.group(1).split("/"), m.group(2)
    short = next((n for n in names if not n.startswith("--")), None)
    if short and f"{short}{given}" in (parser.words_read or []):     # -irf, not -i=rf
        return (f"{short}{given}: {short} takes no value, and -{given[0]} is no option of this command"
                f" (a name that begins with a dash is written after --)")
    return f"{'/'.join(names)} takes no value (given {given.removeprefix('=')!r})"


def _taken_for_option(word: str) -> bool:
    """Does argparse take `word` for an option (or `--`) rather than a value? (No option of rabtui
    looks like a negative number, so those are values.)"""
    return word.startswith("-") and word != "-" and not _NUMBER.match(word)


def _short_joined(word: str) -> bool:
    """A short option with its value in the same word (`-sX`)."""
    return not word.startswith("--") and len(word) > 2


def forget_words(parser) -> None:
    """Forget the words that `parser` and every parser below it read (before a new parse)."""
    parser.words_read = None
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for child in a.choices.values():
                forget_words(child)


def _parsed_chain(parser) -> list:
    """The parsers that read the command line, from the top one to the innermost."""
    while getattr(parser, "parent_parser", None) is not None:
        parser = parser.parent_parser
    chain = [parser]
    while True:
        below = [child for a in chain[-1]._actions if isinstance(a, argparse._SubParsersAction)
                 for child in a.choices.values() if getattr(child, "words_read", None) is not None]
        if not below:
            return chain
        chain.append(below[0])


def _option(parser, word: str):
    """The option action `word` names (an unambiguous prefix of a long one too, `--opt=value`), or None."""
    known = parser._option_string_actions
    name = word.split("=", 1)[0] if word.startswith("--") else word
    if name in known:
        return known[name]
    if word.startswith("--"):
        actions = {id(a): a for s, a in known.items() if s.startswith(name)}
        return next(iter(actions.values())) if len(actions) == 1 else None
    return known.get(word[:2])       # a short option and its value (or more short options) in one word


def _named(positionals, index: int) -> str:
    """The metavar of the positional that the `index`th positional word fills ("a name" past them)."""
    at = 0
    for a in positionals:
        at += _words_taken(a)
        if index < at:
            return "a " + (a.metavar or a.dest.upper())
    return "a name"


def _words_taken(positional) -> float:
    """How many words the positional takes at most (math.inf: any number)."""
    if positional.nargs in ("*", "+", argparse.REMAINDER):
        return math.inf
    return positional.nargs if isinstance(positional.nargs, int) else 1
