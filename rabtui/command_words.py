"""What a configured command runs, read as a shell reads it (pure: words in, words out).

Each simple command of a shell line (`pg_dump x | gzip > /var/backups/x.gz`: pg_dump and gzip) is
looked at past its NAME=VALUE words, redirections and keywords (`if`, `!`, `then`): its program,
the command a wrapper runs (`sudo rsync`, `nice -n 19 rsync`, `env -S 'bash -e'`, `flock F cmd`),
the script an interpreter is given (`bash -e /x`, `sh < /x`) or the line `sh -c` runs. A relative
script follows the line's `cd` (`cd /srv/hooks && sh ./alert.sh`). What a command only reads or
writes (a dump's file, a wrapper's lock file) is data, not named here.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, replace

_SEPARATORS = {";", "&", "&&", "|", "||", "|&", ";;", "(", ")"}
_REDIRECTIONS = {">", ">>", "<", "<<", "<<<", ">&", "<&", "&>", "&>>", ">|", "<>"}
_KEYWORDS = {"if", "then", "else", "elif", "while", "until", "do", "!", "{", "time"}
_DATA_ONLY = {"for", "case", "select", "in", "fi", "done", "esac", "}", "export", "readonly", "local",
              "echo", "printf", "test", "[", "[[", "true", "false", ":", "exit", "return", "set", "unset"}

# a wrapper: the options that take a value (the next word), and how many operands come before its command
@dataclass(frozen=True)
class _Wrapper:
    values: frozenset[str] = frozenset()
    operands: int = 0


_WRAPPERS = {
    "sudo": _Wrapper(frozenset({"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T", "-c",
                                "--user", "--group", "--chdir", "--host", "--prompt", "--role", "--type",
                                "--other-user", "--command-timeout", "--close-from", "--login-class"})),
    "doas": _Wrapper(frozenset({"-u", "-C"})),
    "runuser": _Wrapper(frozenset({"-u", "-g", "-G", "--user", "--group", "--supp-group"})),
    "nice": _Wrapper(frozenset({"-n", "--adjustment"})),
    "ionice": _Wrapper(frozenset({"-c", "-n", "--class", "--classdata"})),
    "nohup": _Wrapper(),
    "setsid": _Wrapper(),
    "stdbuf": _Wrapper(frozenset({"-i", "-o", "-e", "--input", "--output", "--error"})),
    "timeout": _Wrapper(frozenset({"-s", "-k", "--signal", "--kill-after"}), operands=1),
    "chrt": _Wrapper(operands=1),
    "taskset": _Wrapper(operands=1),
    "flock": _Wrapper(frozenset({"-w", "-E", "--timeout", "--wait", "--conflict-exit-code"}), operands=1),
    "time": _Wrapper(frozenset({"-f", "-o", "--format", "--output"})),
    "exec": _Wrapper(frozenset({"-a"})),
    "command": _Wrapper(),
    "builtin": _Wrapper(),
    "busybox": _Wrapper(),
    "nocache": _Wrapper(),
    "catchsegv": _Wrapper(),
    "env": _Wrapper(frozenset({"-u", "--unset", "-C", "--chdir"})),     # -S: split_string below
    "su": _Wrapper(frozenset({"-g", "-G", "-s", "-w", "--group", "--supp-group", "--shell",
                              "--whitelist-environment"}), operands=1),
}
_LINE_OPTION = {"flock", "su", "runuser"}    # their -c LINE is a shell line
# the wrappers that run their command as another user: the option naming the user, and whether a
# first operand names them (su's, runuser's alike when it has no -u); root when none does
_USER_OPTIONS = {"sudo": ("-u", "--user"), "doas": ("-u", ""), "runuser": ("-u", "--user"), "su": ("", "")}
_SU_VALUES = frozenset({"-g", "-G", "-s", "-w", "-c", "--group", "--supp-group", "--shell", "--whitelist-environment",
                        "--command", "--session-command"})


# an interpreter: the options that take a value, the letters of an option whose value is code (a
# shell's is a line, read here too), and that of an option naming the script
@dataclass(frozen=True)
class _Interpreter:
    values: frozenset[str]
    code: str
    script_option: str = ""
    first_is_code: bool = False     # awk's program text, unless -f names its file


_SHELL = _Interpreter(frozenset({"-o", "+o", "-O", "+O", "--rcfile", "--init-file"}), "c")
_INTERPRETERS = [
    (re.compile(r"(ba|da|z|k|mk|c|tc|a|ya|po)?sh"), _SHELL),
    (re.compile(r"python[0-9.]*"), _Interpreter(frozenset({"-W", "-X", "-Q"}), "cm")),
    (re.compile(r"perl[0-9.]*"), _Interpreter(frozenset({"-I", "-M", "-m"}), "eE")),
    (re.compile(r"ruby[0-9.]*"), _Interpreter(frozenset({"-I", "-r", "-C", "-E"}), "e")),
    (re.compile(r"php[0-9.]*"), _Interpreter(frozenset({"-c", "-d", "-z"}), "rBRE", "f")),
    (re.compile(r"lua[0-9.]*"), _Interpreter(frozenset({"-l"}), "e")),
    (re.compile(r"node(js)?"), _Interpreter(frozenset({"-r", "--require", "--import"}), "ep")),
    (re.compile(r"tclsh[0-9.]*|wish[0-9.]*|awk|gawk|mawk"), _Interpreter(frozenset({"-v", "-F"}), "", "f", True)),
]


@dataclass(frozen=True)
class Named:
    """A program (a name PATH finds, or a path) or a script (a path, relative or not); `at`: the
    directory a relative path is from (None: the command's own working directory); `user`: the
    user it runs as, where a wrapper runs it as another (`sudo -u postgres`: postgres; `sudo`:
    root), by name or as `#UID` (None: the command's own user)."""
    word: str
    script: bool = False
    at: str | None = None
    user: str | None = None

    def path(self, cwd: str) -> str | None:
        """Its path, made absolute from `cwd`; None for a program's name (PATH finds it)."""
        if "/" not in self.word and not self.script:
            return None
        return os.path.join(cwd, self.at or "", self.word)


_UNKNOWN = "\0"     # where `cd -` went: relative paths after it are not judged

# a python run as `-m module` imports it from its working directory first: said as this word
MODULE_DIR = "."


def run_by(line: str, depth: int = 0) -> list[Named]:
    """The programs and scripts the shell line `line` runs, in order. ValueError: it does not split
    (an open quote)."""
    out: list[Named] = []
    at: str | None = None           # where the line's `cd` went, relative to its start
    for words in simple_commands(line):
        if words and words[0] in ("cd", "pushd"):
            target = next((w for w in words[1:] if not w.startswith("-") or w == "-"), os.path.expanduser("~"))
            at = _UNKNOWN if target == "-" or "$" in target else os.path.join(at or "", target)
            continue
        out += [replace(n, at=at if n.at is None else os.path.join(at or "", n.at))
                for n in run_by_words(words, depth)]
    return [n for n in out if not (n.at or "").startswith(_UNKNOWN) or n.path("/") is None]


def path_assignments(line: str) -> list[list[str]]:
    """The folders of each PATH the line sets (`PATH=/opt/x:$PATH cmd`, `export PATH=...`, env's
    PATH=...), as set: a program named after it may be looked up there. ValueError as run_by."""
    return [w.partition("=")[2].split(":") for words in simple_commands(line) for w in words
            if w.startswith("PATH=")]


def simple_commands(line: str) -> list[list[str]]:
    """The words of each simple command of `line`, its redirections (and their files) taken out but
    for a `<` file, kept as `<` and the file: an interpreter reads its script there."""
    # a backquote's command is one of its own; $(...) is, by its parentheses
    lexer = shlex.shlex(line.replace("\n", ";").replace("`", ";"), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    commands: list[list[str]] = [[]]
    tokens = list(lexer)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in _SEPARATORS:
            commands.append([])
        elif token in _REDIRECTIONS:
            if token == "<" and i + 1 < len(tokens):
                commands[-1] += ["<", tokens[i + 1]]
            if commands[-1] and commands[-1][-1].isdigit():     # 2>/dev/null: the 2 is no word
                commands[-1].pop()
            i += 1
        else:
            commands[-1].append(token)
        i += 1
    return [[_expanded(w) for w in c] for c in commands if c]


def _expanded(word: str) -> str:
    """`~` and $NAME, ${NAME} as the shell expands them in this process's environment (the one the
    command gets): `$HOME/bin/alert.sh` is the script of that name there."""
    return os.path.expanduser(os.path.expandvars(word)) if "$" in word or word.startswith("~") else word


def run_by_words(words: list[str], depth: int = 0) -> list[Named]:
    """What one simple command's `words` run: its program, then what it runs in turn."""
    stdin = [words[i + 1] for i, w in enumerate(words[:-1]) if w == "<"]
    words = [w for i, w in enumerate(words) if w != "<" and (i == 0 or words[i - 1] != "<")]
    while words and (words[0] in _KEYWORDS or _assignment(words[0])):
        words = words[1:]
    if not words or words[0] in _DATA_ONLY or depth > 8:
        return []
    program, rest = words[0], words[1:]
    if program in (".", "source"):      # the shell runs the file itself
        return [Named(rest[0], True)] if rest else []
    if program == "eval":
        return run_by(" ".join(rest), depth + 1)
    name = os.path.basename(program)
    out = [Named(program)]
    wrapper = _WRAPPERS.get(name)
    if wrapper is not None:
        if name in ("command", "builtin") and any(w in ("-v", "-V") for w in rest):
            return out      # a look-up, nothing run
        if name == "env":
            rest = split_string(rest)
        user = runs_as(name, rest)
        if name in _LINE_OPTION and ("-c" in rest or "--command" in rest):     # flock F -c LINE, su -c LINE
            option = "-c" if "-c" in rest else "--command"
            code = rest[rest.index(option) + 1:rest.index(option) + 2]
            return out + _as(user, run_by(code[0], depth + 1) if code else [])
        if name == "runuser" and _user_option(rest, *_USER_OPTIONS[name], wrapper.values) is None:
            rest = _su_operands(rest)[1:]       # su's form (runuser USER ARGS): ARGS, as su's
        return out + _as(user, run_by_words(_after_options(rest, wrapper) + [x for s in stdin for x in ("<", s)],
                                            depth + 1))
    interpreter = next((spec for pattern, spec in _INTERPRETERS if pattern.fullmatch(name)), None)
    if interpreter is not None:
        out += _interpreted(rest, interpreter, depth) or [Named(s, True) for s in stdin[:1]]
    return out


def runs_as(wrapper: str, rest: list[str]) -> str | None:
    """The user the wrapper `wrapper` (its words after it: `rest`) runs its command as: the one its
    option or (su's, runuser's) operand names, root when none does; None for a wrapper that does
    not change its user (nice)."""
    if wrapper not in _USER_OPTIONS:
        return None
    named = _user_option(rest, *_USER_OPTIONS[wrapper], _WRAPPERS[wrapper].values)
    if named is None and wrapper in ("su", "runuser"):
        operands = _su_operands(rest)
        named = operands[0] if operands else None
    return named or "root"


def _su_operands(rest: list[str]) -> list[str]:
    """su's words past its options (and their values): its user, then the arguments its shell gets."""
    i = 0
    while i < len(rest) and rest[i].startswith("-"):
        if rest[i] == "--":
            return rest[i + 1:]
        i += 2 if rest[i] in _SU_VALUES else 1
    return rest[i:]


def _user_option(rest: list[str], short: str, long: str, values: frozenset[str]) -> str | None:
    """The value of a wrapper's option naming a user (`-u NAME`, `-uNAME`, `--user=NAME`, `--user NAME`)
    among its options, or None."""
    i = 0
    while i < len(rest) and rest[i].startswith("-") and rest[i] != "--":
        word = rest[i]
        if word in (short, long) and word:
            return rest[i + 1] if i + 1 < len(rest) else None
        found = _cluster_value(word, values) if short else None
        if found is not None and f"-{found[0]}" == short:       # -uNAME, -iu NAME
            return found[1] or (rest[i + 1] if i + 1 < len(rest) else None)
        if long and word.startswith(long + "="):
            return word.partition("=")[2]
        i += 2 if _takes_next(word, values) else 1
    return None


def _as(user: str | None, named: list[Named]) -> list[Named]:
    """`named` run as `user`, but for what a wrapper among them runs as another user in turn."""
    return [n if user is None or n.user is not None else replace(n, user=user) for n in named]


def _interpreted(rest: list[str], spec: _Interpreter, depth: int) -> list[Named]:
    i = 0
    while i < len(rest):
        word = rest[i]
        if word == "--":
            i += 1
            break
        if word in spec.values:
            i += 2
            continue
        if word[:1] in "-+" and len(word) > 1 and word != "-":
            letters = "" if word.startswith("--") else word[1:]
            if spec.code and set(letters) & set(spec.code):
                if spec is _SHELL:      # sh -c LINE: its first operand, read as a line of its own
                    line = next((w for w in rest[i + 1:] if not w.startswith("-")), None)
                    return run_by(line, depth + 1) if line is not None else []
                # code follows, no file; python's -m imports its module from the working directory first
                return [Named(MODULE_DIR, True)] if "m" in letters and spec.code == "cm" else []
            if spec is _SHELL and "s" in letters:
                return []       # the script is read from the standard input: its words are data
            if spec.script_option and letters.endswith(spec.script_option) and i + 1 < len(rest):
                return [Named(rest[i + 1], True)]
            i += 1
            continue
        break
    return [Named(rest[i], True)] if i < len(rest) and rest[i] != "-" and not spec.first_is_code else []


def _after_options(rest: list[str], wrapper: _Wrapper) -> list[str]:
    """The words of the command a wrapper runs: past its options (and their values), NAME=VALUE
    words (env's) and its operands (timeout's duration, flock's file)."""
    i = 0
    while i < len(rest):
        word = rest[i]
        if word == "--":
            i += 1
            break
        if word.startswith("-"):      # a lone - too: env's -i, su's -l
            i += 2 if _takes_next(word, wrapper.values) else 1
            continue
        break
    while i < len(rest) and _assignment(rest[i]):
        i += 1
    return rest[i + wrapper.operands:]


def _cluster_value(word: str, values: frozenset[str]) -> tuple[str, str] | None:
    """The first letter of the short options `word` (`-iu`, `-n19`) that takes a value, and that
    value's part in the word (the rest of it; "": the next word is it); None when none does."""
    if word.startswith("--") or len(word) < 2:
        return None
    for j, letter in enumerate(word[1:], 1):
        if f"-{letter}" in values:
            return letter, word[j + 1:]
    return None


def _takes_next(word: str, values: frozenset[str]) -> bool:
    """Whether the option word `word` takes the next word as its value (`-u NAME`, `sudo -iu NAME`)."""
    if word in values:
        return True
    found = _cluster_value(word, values)
    return found is not None and found[1] == ""


def split_string(rest: list[str]) -> list[str]:
    """env's words with its -S STRING (--split-string=STRING, -SSTRING) split as the words they hold."""
    out: list[str] = []
    i = 0
    while i < len(rest):
        word = rest[i]
        value = None
        if word in ("-S", "--split-string") and i + 1 < len(rest):
            value, i = rest[i + 1], i + 1
        elif word.startswith("--split-string="):
            value = word.partition("=")[2]
        elif word.startswith("-S") and len(word) > 2:
            value = word[2:]
        if value is None:
            out.append(word)
        else:
            return out + shlex.split(value) + rest[i + 1:]
        if not word.startswith("-") and not _assignment(word):
            return out + rest[i + 1:]
        i += 1
    return out


def _assignment(word: str) -> bool:
    return "=" in word and not word.startswith(("-", "/", "=")) and "/" not in word.partition("=")[0]


def shebang_words(head: bytes) -> list[str]:
    """The interpreter and its argument a file's first line names (`#!/usr/bin/env -S python3 -u`:
    its words), or none."""
    if not head.startswith(b"#!"):
        return []
    line = os.fsdecode(head[2:].split(b"\n", 1)[0]).strip()
    program, _, argument = line.partition(" ")
    argument = argument.strip()
    return [program] + ([argument] if argument else []) if program else []
