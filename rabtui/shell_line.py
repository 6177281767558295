"""A shell line as a shell reads it, before anything runs (pure: text in, words out).

The line is split into its simple commands: operators (also written together, `(true)&&x`),
redirections and their files, comments, here-documents and bash's here-strings (a line fed to
what reads its input), command substitutions (`$(...)`, backquotes, also in double quotes: their
commands come first, between the marks of a subshell, whose `cd` ends with it), a for loop's
variable taken as each of its words, and `$NAME` as this process's environment expands it. What
the words run is command_words.py's.
"""

from __future__ import annotations

import os
import re
import shlex

_SEPARATORS = {";", "&", "&&", "|", "||", "|&", ";;", "(", ")"}
_REDIRECTIONS = {">", ">>", "<", "<<", "<<<", ">&", "<&", "&>", "&>>", ">|", "<>"}


# simple_commands' marks of where a subshell ( ), $( ) begins and ends: a `cd` in it ends with it
SUBSHELL, SUBSHELL_END = "\x01(", "\x01)"


def path_assignments(line: str) -> list[list[str]]:
    """The folders of each PATH the line sets (`PATH=/opt/x:$PATH cmd`, `export PATH=...`, env's
    PATH=...), as set: a program named after it may be looked up there. ValueError: `line` does not
    split (an open quote)."""
    return [w.partition("=")[2].split(":") for words in simple_commands(line) for w in words
            if w.startswith("PATH=")]


def simple_commands(line: str) -> list[list[str]]:
    """The words of each simple command of `line`, its redirections (and their files) taken out but
    for a `<` file, kept as `<` and the file: an interpreter reads its script there."""
    # a command substitution's commands run before the one whose word holds it (`x=$(cmd)`, "$(cmd)")
    outer, taken = _substitutions(line)
    lexer = shlex.shlex(outer.replace("\n", ";"), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    commands: list[list[str]] = [[]]
    held: list[int] = []        # the marks of the current command's words, its redirections' files too
    tokens = [t for token in lexer for t in _operators(token)]

    def substituted() -> list[list[str]]:
        return [c for m in held for c in [[SUBSHELL], *simple_commands(taken[m]), [SUBSHELL_END]]]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in _SEPARATORS:
            scope = [[SUBSHELL]] if token == "(" else [[SUBSHELL_END]] if token == ")" else []
            commands[-1:] = [*substituted(), commands[-1], *scope, []]
            held = []
        elif token in _REDIRECTIONS:
            if commands[-1] and commands[-1][-1].isdigit():     # 2>/dev/null: the 2 is no word
                commands[-1].pop()
            if tokens[i + 1:i + 2] == ["("]:    # <(...), >(...): a command of its own, no file
                i += 1
                continue
            if token in ("<", "<<<") and i + 1 < len(tokens):    # <<<: bash's here-string, a line fed
                commands[-1] += [token, tokens[i + 1]]
            held += _marks(tokens[i + 1] if i + 1 < len(tokens) else "", taken)
            i += 1
        else:
            commands[-1].append(token)
            held += _marks(token, taken)
        i += 1
    commands[-1:] = [*substituted(), commands[-1]]
    # a for loop's variable takes each of its words: a command naming it is read once with each
    loops = {c[1]: c[3:] for c in commands if len(c) > 2 and c[0] == "for" and c[2] == "in"}
    assigned = {w.partition("=")[0] for c in commands for w in c if assignment(w)} | set(loops)
    expanded = [[_expanded(w, assigned) for w in c] for c in commands if c and c != [""]]
    return [[values[k] if k < len(values) else w for k, w in enumerate(c)] if values else c for c in expanded
            for values in _each_value(c, loops)]


def _each_value(words: list[str], loops: dict[str, list[str]]) -> list[list[str]]:
    """For a command whose word is a for loop's variable alone ($f, "$f", ${f}), its words with that
    one taken as each of the loop's words in turn; else [[]] (the command as it is)."""
    for k, word in enumerate(words):
        name = _VARIABLE.fullmatch(word)
        values = loops.get(name[1] or name[2]) if name else None
        if values is not None and not (k == 1 and words[0] == "for"):
            return [[*words[:k], v] for v in values] or [[*words[:k], ""]]
    return [[]]


_OPERATOR = re.compile(r"&>>|<<<|;;|&&|\|\||\|&|>>|<<|<>|>&|<&|&>|>\||[();<>|&]")


def _operators(token: str) -> list[str]:
    """A run of shell punctuation shlex gives as one token (`()`, `);`, `|(`) as the operators it
    holds; a word as itself."""
    if not token or any(c not in "();<>|&" for c in token):
        return [token]
    return _OPERATOR.findall(token)


# what stands in a word for a command substitution taken out of it (its number between)
_MARK = "\x01"


_MARKED = re.compile(r"\$\x01([0-9]+)\x01")


def _substitutions(line: str) -> tuple[str, list[str]]:
    """`line` with each command substitution ($(cmd), `cmd`, also inside double quotes) taken out,
    a mark left in its word, and the lines taken out, by the marks' numbers."""
    out: list[str] = []
    taken: list[str] = []
    quoted = False
    i = 0
    while i < len(line):
        c = line[i]
        if c == "'" and not quoted:
            end = line.find("'", i + 1)
            end = len(line) - 1 if end < 0 else end
            out.append(line[i:end + 1])
            i = end + 1
            continue
        if c == "\\":
            out.append(line[i:i + 2])
            i += 2
            continue
        if c == "#" and not quoted and (i == 0 or line[i - 1] in " \t\n;&|()<>"):     # a comment, to its line's end
            end = line.find("\n", i)
            i = len(line) if end < 0 else end
            continue
        if not quoted and line.startswith("<<", i) and not line.startswith("<<<", i):
            line, i = _here_document(line, i, out, taken)
            continue
        if c == '"':
            quoted = not quoted
        elif line.startswith("$(", i) or c == "`":
            end = _closing(line, i + 2) if c == "$" else line.find("`", i + 1)
            end = len(line) if end < 0 else end
            taken.append(line[i + (2 if c == "$" else 1):end])
            out.append(f"${_MARK}{len(taken) - 1}{_MARK}")
            i = end + 1
            continue
        out.append(c)
        i += 1
    return "".join(out), taken


def _here_document(line: str, i: int, out: list[str], taken: list[str]) -> tuple[str, int]:
    """A here-document at `i` (<<WORD, <<-WORD) written as a here-string of its lines (`<<<` LINES:
    what a shell fed it reads), and the lines taken from `line`; the command substitutions of one
    whose WORD is unquoted (the shell expands them) taken out as marks after it. `line` and where to
    go on."""
    at = i + 2
    tabs = line.startswith("-", at)
    at += tabs
    while at < len(line) and line[at] in " \t":
        at += 1
    end = at
    while end < len(line) and line[end] not in " \t\n;&|<>()":
        end += 1
    raw = line[at:end]
    word = raw.replace("'", "").replace('"', "").replace("\\", "")
    start = line.find("\n", end)
    if not word or start < 0:
        out.append("<<")
        return line, i + 2
    lines = line[start + 1:].split("\n")
    last = next((k for k, text in enumerate(lines) if (text.lstrip("\t") if tabs else text) == word), len(lines))
    body = "\n".join(lines[:last])
    out.append("<<< " + shlex.quote(body))
    if raw == word:     # unquoted: $(...) and `...` in it run
        inner, inner_taken = _substitutions(body)
        out.extend(f"${_MARK}{len(taken) + int(m)}{_MARK}" for m in _MARKED.findall(inner))
        taken.extend(inner_taken)
    return line[:start + 1] + "\n".join(lines[last + 1:]), end


def _closing(line: str, i: int) -> int:
    """Where the `)` closing a `$(` whose text starts at `i` is (quotes and nested ones passed over)."""
    depth = 1
    while i < len(line):
        c = line[i]
        if c == "\\":
            i += 1
        elif c in "'\"":
            end = line.find(c, i + 1)
            i = len(line) if end < 0 else end
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _marks(word: str, taken: list[str]) -> list[int]:
    """The numbers of the substitutions taken out of this line whose marks `word` holds (not those of
    a line it names, run in turn: `sh -c "$(cmd)"`)."""
    return [int(m) for m in _MARKED.findall(word) if int(m) < len(taken)]


def shown(word: str) -> str:
    """`word` with a command substitution's mark written as `$(...)`."""
    return _MARKED.sub("$(...)", word)


_VARIABLE = re.compile(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})")


def _expanded(word: str, assigned: set[str] = frozenset()) -> str:
    """`~` and $NAME, ${NAME} as the shell expands them in this process's environment (the one the
    command gets): `$HOME/bin/alert.sh` is the script of that name there. One the line assigns, or
    not set, or any other expansion (${X:-/y}, $1, $(...)) is left as written: only its run tells."""
    if "$" in word:
        word = _VARIABLE.sub(lambda m: os.environ[m[1] or m[2]] if (m[1] or m[2]) in os.environ
                             and (m[1] or m[2]) not in assigned else m[0], word)
    return os.path.expanduser(word) if word.startswith("~") else word


_UNREAD = re.compile(r"[$`*?]|\[.*\]|\{.*[,.].*\}")     # a substitution's mark among them


def unread(word: str) -> bool:
    """Whether the program or script `word` is named by what only the shell's run expands: a
    variable the line sets or not set here, $1, ${X:-Y}, $(...), a glob but in its last name
    (which globbed() reads), bash's {a,b}."""
    return bool(_UNREAD.search(word)) and not globbed(word)


def globbed(word: str) -> bool:
    """Whether `word` is a path whose last name alone is a glob (/etc/rabtui/pre.d/*.sh): the files it
    may run are those the folder holds or is given."""
    folder, _, name = word.rpartition("/")
    return bool(folder) and not _UNREAD.search(folder) and re.search(r"[$`{]", name) is None \
        and _UNREAD.search(name) is not None


def assignment(word: str) -> bool:
    return "=" in word and not word.startswith(("-", "/", "=")) and "/" not in word.partition("=")[0]
