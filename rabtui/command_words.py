"""What a configured command runs, read as a shell reads it (pure: words in, words out).

Each simple command of a shell line (`pg_dump x | gzip > /var/backups/x.gz`: pg_dump and gzip), as
shell_line.py splits it, is looked at past its NAME=VALUE words, redirections and keywords (`if`,
`!`, `then`): its program, the command a wrapper runs (`sudo rsync`, `nice -n 19 rsync`, `env -S 'bash -e'`, `flock F cmd`),
the script an interpreter is given (`bash -e /x`, `sh < /x`) or the line `sh -c` runs. A relative
script follows the line's `cd` (`cd /srv/hooks && sh ./alert.sh`). What a command only reads or
writes (a dump's file, a wrapper's lock file) is data, not named here.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shlex
from dataclasses import dataclass, replace

from rabtui.shell_line import SUBSHELL, SUBSHELL_END, assignment, simple_commands

_KEYWORDS = {"if", "then", "else", "elif", "while", "until", "do", "!", "{", "time", "function", "coproc"}
_DATA_ONLY = {"for", "case", "select", "in", "fi", "done", "esac", "}", "export", "readonly", "local",
              "echo", "printf", "test", "[", "[[", "true", "false", ":", "exit", "return", "set", "unset"}

# a wrapper: the options that take a value (the next word), how many operands come before its
# command, and its long options that take none (getopt_long takes any start of a long option that
# names it alone: `nice --adj 5`, `sudo --us postgres`)
@dataclass(frozen=True)
class _Wrapper:
    values: frozenset[str] = frozenset()
    operands: int = 0
    flags: frozenset[str] = frozenset()


_WRAPPERS = {
    "sudo": _Wrapper(frozenset({"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T", "-c",
                                "--user", "--group", "--chdir", "--host", "--prompt", "--role", "--type",
                                "--other-user", "--command-timeout", "--close-from", "--login-class", "-R", "--chroot"}),
                     flags=frozenset({"--askpass", "--background", "--bell", "--edit", "--help", "--login", "--list",
                                      "--non-interactive", "--preserve-env", "--preserve-groups", "--remove-timestamp",
                                      "--reset-timestamp", "--shell", "--stdin", "--validate", "--version"})),
    "doas": _Wrapper(frozenset({"-u", "-C"})),
    "runuser": _Wrapper(frozenset({"-u", "-g", "-G", "--user", "--group", "--supp-group"})),
    "nice": _Wrapper(frozenset({"-n", "--adjustment"}), flags=frozenset({"--help", "--version"})),
    "ionice": _Wrapper(frozenset({"-c", "-n", "--class", "--classdata"}),
                       flags=frozenset({"--ignore", "--pid", "--pgid", "--uid", "--help", "--version"})),
    "nohup": _Wrapper(),
    "setsid": _Wrapper(flags=frozenset({"--ctty", "--fork", "--wait", "--help", "--version"})),
    "stdbuf": _Wrapper(frozenset({"-i", "-o", "-e", "--input", "--output", "--error"}),
                       flags=frozenset({"--help", "--version"})),
    "timeout": _Wrapper(frozenset({"-s", "-k", "--signal", "--kill-after"}), operands=1,
                        flags=frozenset({"--foreground", "--preserve-status", "--verbose", "--help", "--version"})),
    "chrt": _Wrapper(operands=1),
    "taskset": _Wrapper(operands=1),
    "flock": _Wrapper(frozenset({"-w", "-E", "--timeout", "--wait", "--conflict-exit-code"}), operands=1,
                      flags=frozenset({"--shared", "--exclusive", "--unlock", "--nonblock", "--nb", "--close",
                                       "--no-fork", "--verbose", "--help", "--version"})),
    "time": _Wrapper(frozenset({"-f", "-o", "--format", "--output"}),
                     flags=frozenset({"--append", "--verbose", "--portability", "--quiet", "--help", "--version"})),
    "exec": _Wrapper(frozenset({"-a"})),
    "command": _Wrapper(),
    "builtin": _Wrapper(),
    "busybox": _Wrapper(),
    "nocache": _Wrapper(),
    "catchsegv": _Wrapper(),
    "env": _Wrapper(frozenset({"-u", "--unset", "-C", "--chdir"}),     # -S: split_string below
                    flags=frozenset({"--ignore-environment", "--null", "--split-string", "--block-signal",
                                     "--default-signal", "--ignore-signal", "--list-signal-handling", "--debug",
                                     "--help", "--version"})),
    "su": _Wrapper(frozenset({"-g", "-G", "-s", "-w", "--group", "--supp-group", "--shell",
                              "--whitelist-environment"}), operands=1),
    "setpriv": _Wrapper(frozenset({"--ruid", "--euid", "--reuid", "--rgid", "--egid", "--regid", "--groups",
                                   "--inh-caps", "--ambient-caps", "--bounding-set", "--securebits", "--pdeathsig",
                                   "--selinux-label", "--apparmor-profile", "--landlock-access", "--landlock-rule"}),
                        flags=frozenset({"--clear-groups", "--keep-groups", "--init-groups", "--no-new-privs", "--nnp",
                                         "--reset-env", "--dump", "--help", "--version"})),
    "sg": _Wrapper(operands=1),      # sg GROUP [-c] LINE
    "unshare": _Wrapper(frozenset({"-R", "-w", "-S", "-G", "--root", "--wd", "--setuid", "--setgid", "--propagation",
                                   "--setgroups", "--map-user", "--map-group", "--map-users", "--map-groups",
                                   "--monotonic", "--boottime"}),
                        flags=frozenset({"--mount", "--uts", "--ipc", "--net", "--pid", "--user", "--cgroup", "--time",
                                         "--fork", "--map-root-user", "--map-current-user", "--map-auto",
                                         "--kill-child", "--mount-proc", "--keep-caps", "--help", "--version"})),
    "nsenter": _Wrapper(frozenset({"-t", "-S", "-G", "-W", "--target", "--setuid", "--setgid", "--wdns"}),
                        flags=frozenset({"--all", "--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup", "--user",
                                         "--time", "--preserve-credentials", "--root", "--wd", "--no-fork",
                                         "--follow-context", "--help", "--version"})),
    "choom": _Wrapper(frozenset({"-n", "--adjust"}), flags=frozenset({"--help", "--version"})),
    "prlimit": _Wrapper(frozenset({"-p", "--pid", "-o", "--output"})),
    "setarch": _Wrapper(),      # setarch ARCH [-R -3 ...] CMD: its ARCH taken off first
    "linux32": _Wrapper(),
    "linux64": _Wrapper(),
    "systemd-inhibit": _Wrapper(frozenset({"--what", "--who", "--why", "--mode"})),
    "fakeroot": _Wrapper(frozenset({"-l", "--lib", "--faked", "-s", "-i", "-b"})),
    "chronic": _Wrapper(),
    "eatmydata": _Wrapper(),
    "unbuffer": _Wrapper(),
    "lckdo": _Wrapper(frozenset({"-w"}), operands=1),
}
_LINE_OPTION = {"flock", "sg"}    # their -c LINE is a shell line
# the wrappers that run their command as another user: their options naming the user, and those
# that give it a group besides its own (sudo -g disk, sudo -P keeping root's); root when none names one
_USER_OPTIONS = {"sudo": ("-u", "--user"), "doas": ("-u", "")}
_GROUP_OPTIONS = {"sudo": ("-g", "--group", "-P", "--preserve-groups")}
# a wrapper's options that run its command from another directory (a relative name is found there)
_CHDIR_OPTIONS = {"sudo": ("-D", "--chdir"), "env": ("-C", "--chdir"), "unshare": ("-w", "--wd"),
                  "nsenter": ("-W", "--wdns")}
# script runs the line -c gives (its options anywhere), run-parts each file of the folder it is given
_SCRIPT_VALUES = frozenset({"-c", "-I", "-O", "-B", "-T", "-m", "-E", "-o", "--command", "--log-in", "--log-out",
                            "--log-io", "--log-timing", "--logging-format", "--echo", "--output-limit"})
_RUN_PARTS_VALUES = frozenset({"-u", "-a", "--umask", "--arg", "--regex"})
# su's options (runuser's in su's form, and runuser's own -u) by their letters; su takes them
# anywhere before `--`, long ones shortened while that names one alone (getopt_long)
_SU_LONG = {"--command": "c", "--session-command": "c", "--shell": "s", "--group": "g", "--supp-group": "G",
            "--whitelist-environment": "w", "--user": "u", "--login": "l", "--fast": "f",
            "--preserve-environment": "m", "--pty": "P", "--help": "h", "--version": "V"}
_SU_VALUES = "cgGsw"


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
    each: bool = False      # a folder each of whose files runs (run-parts)

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
    outside: list[str | None] = []  # where it was as each subshell it is in began
    for words in simple_commands(line):
        if words == [SUBSHELL]:
            outside.append(at)
            continue
        if words == [SUBSHELL_END]:
            at = outside.pop() if outside else at
            continue
        if words and words[0] in ("cd", "pushd"):
            target = next((w for w in words[1:] if not w.startswith("-") or w == "-"), os.path.expanduser("~"))
            at = _UNKNOWN if target == "-" or "$" in target else os.path.join(at or "", target)
            continue
        out += [replace(n, at=at if n.at is None else os.path.join(at or "", n.at))
                for n in run_by_words(words, depth)]
    return [n for n in out if not (n.at or "").startswith(_UNKNOWN) or n.path("/") is None]


def run_by_words(words: list[str], depth: int = 0) -> list[Named]:
    """What one simple command's `words` run: its program, then what it runs in turn."""
    stdin = [words[i + 1] for i, w in enumerate(words[:-1]) if w == "<"]
    fed = [words[i + 1] for i, w in enumerate(words[:-1]) if w == "<<<"]
    words = [w for i, w in enumerate(words) if w not in ("<", "<<<") and (i == 0 or words[i - 1] not in ("<", "<<<"))]
    while words and (words[0] in _KEYWORDS or assignment(words[0])):
        timed = words[0] == "time"
        words = words[2:] if words[0] == "function" else words[1:]     # bash's `function NAME {`: no command
        while timed and words[:1] in (["-p"], ["--"]):      # bash's time -p --
            words = words[1:]
    if not words or words[0] in _DATA_ONLY or depth > 8:
        return []
    program, rest = words[0], words[1:]
    if program == "trap":       # trap LINE SIGNAL...: the shell runs LINE on the signal, or at its exit
        rest = rest[1:] if rest[:1] == ["--"] else rest
        return run_by(rest[0], depth + 1) if len(rest) > 1 and not rest[0].startswith("-") else []
    if program in (".", "source"):      # the shell runs the file itself
        return _read_from([Named(rest[0], True)] if rest else [], stdin)
    if program == "eval":
        return run_by(" ".join(rest), depth + 1)
    name = os.path.basename(program)
    out = [Named(program)]
    if name == "script":
        return out + [n for line in _anywhere(rest, _SCRIPT_VALUES, "-c", "--command") for n in run_by(line, depth + 1)]
    if name == "run-parts":
        if any(w in ("--test", "--list") for w in rest):
            return out
        folder = next(iter(_anywhere(rest, _RUN_PARTS_VALUES, "", "")), None)
        return out + ([Named(folder, True, each=True)] if folder else [])
    wrapper = _WRAPPERS.get(name)
    if wrapper is not None:
        if name in ("command", "builtin") and any(w in ("-v", "-V") for w in rest):
            return out      # a look-up, nothing run
        if name in ("su", "runuser"):      # their options read in full there
            return out + _su_runs(name, rest, stdin, depth)
        rest = _spelled_out(rest[1:] if name == "setarch" else rest, wrapper)
        if name == "env":       # and the options its -S string holds
            rest = _spelled_out(split_string(rest), wrapper)
        user = runs_as(name, rest)
        if name in _LINE_OPTION and ("-c" in rest or "--command" in rest):     # flock F -c LINE
            option = "-c" if "-c" in rest else "--command"
            code = rest[rest.index(option) + 1:rest.index(option) + 2]
            return out + _as(user, run_by(code[0], depth + 1) if code else [])
        named = run_by_words(_after_options(rest, wrapper) + [x for s in stdin for x in ("<", s)], depth + 1)
        chdir = _option_values(rest, wrapper.values, *_CHDIR_OPTIONS.get(name, ("", "")))
        if chdir:
            named = _from(chdir[-1], named)
        elif name == "sudo" and _option_given(rest, wrapper.values, "-i", "--login"):
            named = _from(_home(user), named)     # a login shell starts at the home
        return out + _as(user, named)
    interpreter = next((spec for pattern, spec in _INTERPRETERS if pattern.fullmatch(name)), None)
    if interpreter is not None:
        script = _read_from(_interpreted(rest, interpreter, depth), stdin) or [Named(s, True) for s in stdin[:1]]
        if not script and fed and interpreter is _SHELL:       # sh <<< LINE: the shell reads LINE
            script = run_by(fed[-1], depth + 1)
        out += script
    return out


# a file named by a descriptor of the command's: what is redirected there (sh /dev/stdin < FILE)
_DESCRIPTOR = re.compile(r"/dev/(stdin|fd/[0-9]+)|/proc/(self|thread-self|[0-9]+)/fd/[0-9]+")


def _read_from(named: list[Named], redirected: list[str]) -> list[Named]:
    """`named`, a script among them read through a descriptor (/dev/stdin, /dev/fd/3) judged as each
    file redirected into the command too."""
    return [m for n in named for m in [n, *(Named(f, True) for f in redirected if n.script
                                          and _DESCRIPTOR.fullmatch(n.word))]]


def runs_as(wrapper: str, rest: list[str]) -> str | None:
    """The user the wrapper `wrapper` (sudo, doas; its words after it: `rest`) runs its command as:
    the one its last option naming one names, root when none does, or when a group is given besides
    (the user's own code would have it); None for a wrapper that does not change its user (nice)."""
    if wrapper == "setpriv":
        return _setpriv_user(rest)
    if wrapper not in _USER_OPTIONS:
        return None
    values = _WRAPPERS[wrapper].values
    groups = _GROUP_OPTIONS.get(wrapper, ())
    if any(_option_given(rest, values, *pair) for pair in zip(groups[::2], groups[1::2])):
        return "root"
    named = _option_values(rest, values, *_USER_OPTIONS[wrapper])
    return named[-1] if named else "root"


def _setpriv_user(rest: list[str]) -> str | None:
    """The user setpriv runs its command as: the one --reuid (or --ruid and --euid alike) names
    when their own group goes with it (--regid naming it, and --init-groups or --clear-groups),
    root when it keeps root's (none given, --keep-groups, --groups); None when it names none."""
    values = _WRAPPERS["setpriv"].values

    def last(*options: str) -> str | None:
        found = [v for o in options for v in _option_values(rest, values, "", o)]
        return found[-1] if found else None

    user = last("--reuid") or (last("--ruid") if last("--ruid") == last("--euid") else None)
    if user is None:
        return None if last("--ruid", "--euid") is None else "root"
    group = last("--regid") or (last("--rgid") if last("--rgid") == last("--egid") else None)
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        own = group is not None and (group == str(entry.pw_gid) or grp.getgrnam(group).gr_gid == entry.pw_gid)
    except (KeyError, ValueError):
        own = False
    grouped = any(_option_given(rest, values, "", o) for o in ("--init-groups", "--clear-groups")) \
        and not any(_option_given(rest, values, "", o) for o in ("--keep-groups", "--groups"))
    return (user if not user.isdigit() else f"#{user}") if own and grouped else "root"


def _su_runs(name: str, rest: list[str], stdin: list[str], depth: int) -> list[Named]:
    """What su (or runuser) run with the words `rest` runs: the shell -s names, the line -c gives
    it or the arguments it passes it (su USER ARGS), or runuser -u's command; as the user its first
    operand (runuser: -u) names, root when none does or a group is given besides; from that user's
    home when a login (-, -l)."""
    options: dict[str, str] = {}
    operands: list[str] = []
    values = _SU_VALUES + ("u" if name == "runuser" else "")
    i = 0
    while i < len(rest):
        word = rest[i]
        if word == "--":
            operands += rest[i + 1:]
            break
        if word.startswith("--"):
            option, eq, value = word.partition("=")
            letters = {v for k, v in _SU_LONG.items() if k == option} or \
                {v for k, v in _SU_LONG.items() if k.startswith(option)}
            letter = letters.pop() if len(letters) == 1 else "?"
            if letter in values and not eq:
                value, i = (rest[i + 1] if i + 1 < len(rest) else ""), i + 1
            options[letter] = value
        elif word.startswith("-") and word != "-":
            for j, letter in enumerate(word[1:], 1):
                if letter in values:
                    value = word[j + 1:]
                    if not value:
                        value, i = (rest[i + 1] if i + 1 < len(rest) else ""), i + 1
                    options[letter] = value
                    break
                options[letter] = ""
        else:
            operands.append(word)
        i += 1
    redirected = [x for s in stdin for x in ("<", s)]
    if "u" in options:      # runuser -u USER CMD: the command itself
        user, named = options["u"], run_by_words(operands + redirected, depth + 1)
    else:
        if operands[:1] == ["-"]:
            options["l"], operands = "", operands[1:]
        user = operands[0] if operands else "root"
        named = [Named(options["s"])] if options.get("s") else []
        # its shell runs -c's line, given the arguments after the user (su -c -- USER X: sh -c -- X runs X),
        # or those arguments (sh ARGS), or reads its standard input
        shell = ["sh", "-c", options["c"]] if "c" in options else ["sh"]
        named += run_by_words([*shell, *operands[1:], *redirected], depth + 1)[1:]
        if "l" in options:
            named = _from(_home(user), named)
    if "g" in options or "G" in options:
        user = "root"
    return _as(user, named)


def _option_values(rest: list[str], values: frozenset[str], short: str, long: str) -> list[str]:
    """The values, in order, of a wrapper's option `short` / `long` that takes one (`-u NAME`, `-uNAME`,
    `-iu NAME`, `--user=NAME`, `--user NAME`) among its options, which end at its first operand."""
    found = []
    i = 0
    while i < len(rest) and rest[i].startswith("-") and rest[i] != "--":
        word = rest[i]
        following = rest[i + 1] if i + 1 < len(rest) else ""
        cluster = _cluster_value(word, values) if short else None
        if word in (short, long) and word:
            found.append(following)
        elif cluster is not None and f"-{cluster[0]}" == short:
            found.append(cluster[1] or following)
        elif long and word.startswith(long + "="):
            found.append(word.partition("=")[2])
        i += 2 if _takes_next(word, values) else 1
    return found


def _anywhere(rest: list[str], values: frozenset[str], short: str, long: str) -> list[str]:
    """The values of the option `short` / `long` among words whose options may follow operands (getopt's
    order: `script /dev/null -qc LINE`); with neither given, the operands."""
    found, operands = [], []
    i = 0
    while i < len(rest):
        word = rest[i]
        if word == "--":
            operands += rest[i + 1:]
            break
        if word.startswith("-") and word != "-":
            option = word.partition("=")[0]
            long_form = option.startswith("--")
            known = [v for v in values if v.startswith(option)] if long_form else []
            cluster = None if long_form else _cluster_value(word, values)
            if long and long_form and (option == long or known == [long]):
                found.append(word.partition("=")[2] if "=" in word else rest[i + 1] if i + 1 < len(rest) else "")
            elif short and cluster is not None and f"-{cluster[0]}" == short:
                found.append(cluster[1] or (rest[i + 1] if i + 1 < len(rest) else ""))
            i += 2 if (long_form and len(known) == 1 and "=" not in word) or (cluster and not cluster[1]) else 1
            continue
        operands.append(word)
        i += 1
    return found if short or long else operands


def _option_given(rest: list[str], values: frozenset[str], short: str, long: str) -> bool:
    """Whether a wrapper's option `short` / `long` that takes no value is among its options (`-P`,
    `-HP`, `--preserve-groups`)."""
    i = 0
    while i < len(rest) and rest[i].startswith("-") and rest[i] != "--":
        word = rest[i]
        if word == long or word.startswith(long + "="):
            return True
        if not word.startswith("--"):
            for letter in word[1:]:
                if letter == short[1:]:
                    return True
                if f"-{letter}" in values:      # the rest of the word is its value
                    break
        i += 2 if _takes_next(word, values) else 1
    return False


def _spelled_out(rest: list[str], wrapper: _Wrapper) -> list[str]:
    """A wrapper's words, each of its long options given by a start of its name that names it alone
    (`--adj` of nice's --adjustment, as getopt_long takes it) written in full."""
    known = {w for w in wrapper.values | wrapper.flags if w.startswith("--")}
    out = list(rest)
    i = 0
    while i < len(out) and out[i].startswith("-") and out[i] != "--":
        option, eq, value = out[i].partition("=")
        if option.startswith("--") and option not in known:
            matches = [k for k in known if k.startswith(option)]
            if len(matches) == 1:
                out[i] = matches[0] + eq + value
        i += 2 if _takes_next(out[i], wrapper.values) else 1
    return out


def _from(folder: str | None, named: list[Named]) -> list[Named]:
    """`named` run from the directory `folder` (a wrapper's -C DIR, a login's home; None: where they were)."""
    return named if folder is None else [replace(n, at=os.path.join(folder, n.at or "")) for n in named]


def _home(user: str) -> str | None:
    """The home of `user` (a name, or `#UID`), where a login starts; None for one not known here (the
    login fails)."""
    home = os.path.expanduser(f"~{user}") if not user.startswith("#") else None
    if user.startswith("#") and user[1:].isdigit():
        try:
            home = pwd.getpwuid(int(user[1:])).pw_dir
        except KeyError:
            pass
    return None if home is None or home.startswith("~") else home


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
            # a letter taking a value ends the option's letters: the rest is its value (-Werror::Deprecation)
            valued = next((j for j, letter in enumerate(letters) if word[0] + letter in spec.values), None)
            if valued is not None:
                letters, attached = letters[:valued], letters[valued + 1:] != ""
            if spec.code and set(letters) & set(spec.code):
                if spec is _SHELL:      # sh -c LINE: its first operand, read as a line of its own
                    at = next((j for j in range(i + 1, len(rest)) if not rest[j].startswith("-")), None)
                    return run_by(_positional(rest[at], rest[at + 1:]), depth + 1) if at is not None else []
                # code follows, no file; python's -m imports its module from the working directory first
                return [Named(MODULE_DIR, True)] if "m" in letters and spec.code == "cm" else []
            if spec is _SHELL and "s" in letters:
                return []       # the script is read from the standard input: its words are data
            if spec.script_option and letters.endswith(spec.script_option) and i + 1 < len(rest):
                return [Named(rest[i + 1], True)]
            i += 1 if valued is None or attached else 2
            continue
        break
    return [Named(rest[i], True)] if i < len(rest) and rest[i] != "-" and not spec.first_is_code else []


_PLAIN = re.compile(r"[A-Za-z0-9_./:+@%,-]+")
_POSITIONAL = re.compile(r'"\$@"|\$[@*]|\$\{([0-9]+)\}|\$([0-9])')


def _positional(line: str, args: list[str]) -> str:
    """`sh -c LINE NAME ARG...`'s LINE with $0 (NAME), $1... and "$@" as the shell gives them: the
    wrapper's idiom `sh -c 'setsid -w "$@"' sh rsync` runs rsync. Left as written (only its run
    tells) unless every argument is a plain word, which no quoting can change."""
    if not args or not all(_PLAIN.fullmatch(a) for a in args):
        return line

    def value(m: re.Match) -> str:
        if m[1] is None and m[2] is None:
            return " ".join(args[1:])
        n = int(m[1] or m[2])
        return args[n] if n < len(args) else m[0]
    return _POSITIONAL.sub(value, line)


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
    while i < len(rest) and assignment(rest[i]):
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
        if not word.startswith("-") and not assignment(word):
            return out + rest[i + 1:]
        i += 1
    return out


def shebang_words(head: bytes) -> list[str]:
    """The interpreter and its argument a file's first line names (`#!/usr/bin/env -S python3 -u`:
    its words), or none."""
    if not head.startswith(b"#!"):
        return []
    line = os.fsdecode(head[2:].split(b"\n", 1)[0]).strip()
    program, _, argument = line.partition(" ")
    argument = argument.strip()
    return [program] + ([argument] if argument else []) if program else []
