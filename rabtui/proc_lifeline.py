"""The sh script that makes a process group die with rabtui, SIGKILL included: its standard input
(or a pipe of its own) is a lifeline that rabtui holds open, and its end says that rabtui died."""

from __future__ import annotations

import shlex

MARK = "RABTUI_RUN"     # in the environment of an operator's command: its run's token, which its processes inherit


def marked_sh(token: str) -> str:
    """sh that defines `marked SIG`: SIG to each process whose environment holds MARK=`token`, the
    shell that runs it aside (Linux's /proc/PID/environ, read by `grep -z`, GNU's or BusyBox's;
    elsewhere none is found); and `any_marked`, true while a process is marked so (for a shell that
    is not marked itself: it and its grep would be found). A process that left a command's process
    group (`setsid`, a daemon's double fork) is found so; one that cleared its environment is not."""
    found = f"grep -lsxzF -- {shlex.quote(f'{MARK}={token}')} /proc/[0-9]*/environ"
    return ("read -r me _ </proc/self/stat 2>/dev/null; "
            f'marked() {{ for f in $({found}); do p=${{f#/proc/}}; p=${{p%/environ}};'
            ' [ "$p" = "$me" ] || kill -s $1 $p 2>/dev/null; done; }; '
            f'any_marked() {{ [ -n "$({found})" ]; }}; ')


def dies_with_stdin(shell: str, grace: int = 5, token: str | None = None) -> str:
    """A sh script, the leader of a process group of its own, that runs its first argument with
    `shell` (its standard input: /dev/null) and kills the whole group, SIGTERM then SIGKILL after
    `grace` seconds, when its own standard input ends. rabtui never writes there and holds it open
    while the command runs (locally a pipe, over SSH the channel), so the end comes when rabtui
    dies, also by SIGKILL, which no handler of rabtui's sees: a pre-backup dump would otherwise go
    on beside the next run's own. What a command leaves running in the background when it ends
    normally is left alone, as before. `token`: the command runs with MARK=`token` in its
    environment (the caller puts it there), and its processes that left the group die with it too
    (`marked_sh`): SIGTERM with the group, SIGKILL once the group is gone or `grace` has passed."""
    return group_dies_with_stdin(f'{shell} -c "$1"', grace, token=token)


def group_dies_with_stdin(command: str, grace: int = 5, lifeline_fd: int = 0, token: str | None = None) -> str:
    """`dies_with_stdin`'s script, running `command` (sh words: `"$@"` runs its arguments). With a
    `lifeline_fd` other than 0, the lifeline is that pipe (past 9, which sh cannot name, opened again
    through /proc) and the command keeps its standard input."""
    marked = (marked_sh(token), "marked TERM; ", "marked KILL; ") if token else ("", "", "")
    # the watcher dies with the group's SIGTERM of a cancel or a timeout, but outlives its own
    watcher = (f'read -r _ <&3; trap "" TERM; {marked[0]}kill -s TERM -- -$$; {marked[1]}i=0; while [ $i -lt {grace * 5} ]'
               f' && kill -s 0 -- -$$; do sleep 0.2; i=$((i+1)); done; {marked[2]}kill -s KILL -- -$$')
    # a command killed by a signal is said so: the wrapper dies of the same signal
    take = ('exec 3<&0 </dev/null; ' if lifeline_fd == 0 else f'exec 3<&{lifeline_fd}; ' if lifeline_fd <= 9
            else f'exec 3</proc/self/fd/{lifeline_fd}; ')
    return (take + f'({watcher}) >/dev/null 2>&1 & w=$!; exec 3<&-; '
            f'{command}; s=$?; kill -s KILL $w 2>/dev/null; '
            'if [ $s -gt 128 ] && [ $s -lt 160 ]; then trap - $((s - 128)); kill -$((s - 128)) $$; fi; exit $s')


def marked_die_with_stdin(token: str, grace: int = 2) -> str:
    """A sh script that waits for its standard input to end, which rabtui holds open, writing
    nothing (its end says that rabtui died, SIGKILL included), then kills each process whose
    environment holds MARK=`token` (`marked_sh`): SIGTERM, SIGKILL to those left after `grace`
    seconds. For a process that leaves rabtui's groups by design, as ssh's shared connection does
    (ControlPersist: it goes to the background in a session of its own)."""
    return (marked_sh(token) + f'read -r _; marked TERM; i=0; while [ $i -lt {grace * 5} ] && any_marked;'
            ' do sleep 0.2; i=$((i+1)); done; marked KILL')
