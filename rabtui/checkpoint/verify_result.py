"""What the verification of one disc found (verify.py, verify_attrs.py), and how it is said."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from rabtui import fmt
from rabtui.checkpoint import unchecked


# what `VerifyResult.changed` says of a file whose content the backup holds otherwise than planned
CONTENT_CHANGED = "its content changed"
# ... of an entry the backup holds as another kind than planned (a file made a symlink)
KIND_CHANGED = "its kind changed"
# ... of files the backup links otherwise than planned (a name copied apart)
LINKS_CHANGED = "its hard links changed"
# ... of an entry whose xattrs the backup holds otherwise than planned (xattr_sum.py)
XATTRS_CHANGED = "its xattrs changed"
# what of an entry's own attributes the backup may hold otherwise than planned (attrs_changed)
ATTRS = ("mode", "owner", "time", "size", "target", "device numbers")


def attrs_changed(which: list[str]) -> str:
    """What `VerifyResult.changed` says of an entry whose `which` (of ATTRS) the backup holds otherwise
    than planned: "its mode changed", "its mode and time changed"."""
    return f"its {' and '.join(which)} changed"


_ATTRS_SAID = {attrs_changed([a for i, a in enumerate(ATTRS) if n >> i & 1]) for n in range(1, 1 << len(ATTRS))}


@dataclass
class VerifyResult:
    volid: str
    found_volid: str | None = None
    ok: bool = False
    mismatched: list[bytes] = field(default_factory=list)   # disc paths whose content differs
    why: dict[bytes, str] = field(default_factory=dict)       # what differs, where it is known
    missing: list[bytes] = field(default_factory=list)
    extra: list[bytes] = field(default_factory=list)        # disc paths the catalog does not hold
    messages: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)        # what was not compared, and why (unchecked.py)
    # directories whose ACLs or xattrs, files whose xattrs kept off the discs, content, kind, mode,
    # owner or time, the backup no longer holds as the plan recorded them, and what changed: a
    # rewrite would fail the same way (dir_attrs.changed_since, dir_attrs.kept_off_changed_since,
    # verify_attrs.content_changed_since_plan)
    changed: dict[bytes, str] = field(default_factory=dict)

    def note(self, path: bytes, why: str | None) -> None:
        """`path` differs for `why` (None: it does not); the first reason found stays."""
        if why and path not in self.why:
            self.why[path] = why
            if path not in self.mismatched:
                self.mismatched.append(path)

    @property
    def wrong_disc(self) -> bool:
        return self.found_volid is not None and self.found_volid != self.volid

    def describe(self, limit: int = 10) -> str:
        if self.ok:
            return unchecked.said(self.volid, self.unchecked) if self.unchecked else f"{self.volid}: verified"
        if self.found_volid is None:
            return f"{self.volid}: cannot read the disc: {'; '.join(self.messages) or 'no disc?'}"
        if self.wrong_disc:
            return f"this is disc {self.found_volid}, not {self.volid}"
        parts = []
        if self.mismatched:
            names = ", ".join(os.fsdecode(p) + (f" ({self.why[p]})" if p in self.why else "")
                              for p in self.mismatched[:limit])
            more = f" and {len(self.mismatched) - limit} more" if len(self.mismatched) > limit else ""
            parts.append(f"{fmt.count(len(self.mismatched), 'file')} {'differs' if len(self.mismatched) == 1 else 'differ'}:"
                         f" {names}{more}")
        if self.missing:
            names = ", ".join(os.fsdecode(p) for p in self.missing[:limit])
            parts.append(f"{fmt.count(len(self.missing), 'file')} missing: {names}")
        if self.extra:
            names = ", ".join(os.fsdecode(p) for p in self.extra[:limit])
            parts.append(f"{fmt.count(len(self.extra), 'entry')} not in the catalog: {names}")
        parts += self.messages
        return f"{self.volid}: verification failed: " + "; ".join(parts)

    def changed_since_plan(self, number: int) -> str:
        """What to do about a disc of checkpoint `number` that failed for `changed`: a rewrite would
        fail the same way."""
        n = len(self.changed)
        which = os.fsdecode(next(iter(self.changed))) if n == 1 else f"{n} entries"
        content = sum(what == CONTENT_CHANGED for what in self.changed.values())
        if content == n:    # bit rot, or a hand: no plan should take it for the file's content
            return (f"The content of {which} changed in the backup on the medium after checkpoint {number} was"
                    f" planned, its size and time kept: the medium may be failing, or the backup was edited. A disc"
                    f" is written from the backup as it is and checked against the plan's record, so a rewrite would"
                    f" fail the same way, and a new plan would take the changed content for the file's. Check that"
                    f" medium (`rabtui checkpoint abandon {number}` gives this checkpoint up). Retry, skip or abort?")
        kinds = sum(what == KIND_CHANGED for what in self.changed.values())
        attrs = sum(what in _ATTRS_SAID for what in self.changed.values())
        links = sum(what == LINKS_CHANGED for what in self.changed.values())
        what = ", ".join(["content"] * bool(content) + ["kind"] * bool(kinds)
                         + ["mode, owner, time, size, target or device numbers"] * bool(attrs) + ["hard links"] * bool(links)
                         + ["ACLs or xattrs"] * (n > content + kinds + attrs + links))
        return (f"The {what} of {which} changed in the backup after checkpoint {number} was planned: a disc is"
                f" written from the backup as it is and checked against the plan's record, so a rewrite would fail"
                f" the same way. `rabtui checkpoint abandon {number}`, then `rabtui checkpoint burn` plans a new"
                f" checkpoint from the backup as it is now; or put them back on the medium as recorded and retry (a"
                f" disc written before the change then passes; one written after it can then be rewritten). Retry,"
                f" skip or abort?")
