"""The planner's disc count against the exact answer, on small generated sets where every way of
sharing the files out over discs can be tried (the same sector model: `DiscFill`)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rabtui.checkpoint import plan as P
from rabtui.checkpoint.discfill import DiscFill, DiscPlan, file_of

DISC = 1024          # sectors: a 2 MiB disc
MiB = 1024 * 1024


def _fits(g: P.Group, members: list[int], usable: int) -> bool:
    d = DiscFill(DiscPlan())
    for i in sorted(members):
        d.add_file(*file_of(g, i))
    return d.sectors <= usable


def _fewest_discs(g: P.Group, usable: int) -> int:
    """Every set partition of the files (restricted growth strings), the smallest that fits."""
    n = len(g.paths)
    best = n
    labels = [0] * n

    def go(i: int, used: int) -> None:
        nonlocal best
        if used >= best:
            return
        if i == n:
            discs = [[j for j in range(n) if labels[j] == k] for k in range(used)]
            if all(_fits(g, members, usable) for members in discs):
                best = used
            return
        for k in range(used + 1):
            labels[i] = k
            go(i + 1, max(used, k + 1))

    go(0, 0)
    return best


# Sizes as hundredths of what a disc holds (about 15,700 bytes), with a few bytes either way: sets
# where the order of packing matters; now and then a file larger than a disc.
sizes = st.builds(lambda pct, jitter: max(0, pct * 15_700 + jitter), st.integers(0, 110), st.integers(-3000, 3000))


@st.composite
def small_sets(draw) -> P.Group:
    n = draw(st.integers(2, 7))
    dirs = draw(st.lists(st.sampled_from([b"", b"a", b"a/b", b"c"]), min_size=n, max_size=n))
    paths = sorted((d + b"/" if d else b"") + b"f%d" % i for i, d in enumerate(dirs))
    return P.Group(key=("s", "/p"), prefix=b"data/s/p", paths=paths, sizes=draw(st.lists(sizes, min_size=n, max_size=n)))


@settings(max_examples=150)
@given(small_sets())
def test_disc_count_is_the_fewest_possible(g):
    p = P.plan([g], DISC)
    if p.parts:                   # a file larger than a disc: cut, not packed
        return
    fewest = _fewest_discs(g, p.usable_sectors)
    assert p.lower_bound <= fewest
    assert len(p.discs) == fewest, (g.sizes, [d.files for d in p.discs])
    on = [[i for i in range(len(g.paths)) if p.placement[0][i] == k] for k in range(len(p.discs))]
    assert sorted(i for members in on for i in members) == list(range(len(g.paths)))
    assert all(_fits(g, members, p.usable_sectors) for members in on)


def test_fewer_discs_than_packing_in_path_order(monkeypatch):
    """Packed in path order these files take three discs; two hold them, the lower bound."""
    sizes = [676157, 100625, 207092, 87048, 1024392, 813369]
    g = P.Group(key=("s", "/p"), prefix=b"data/s/p", paths=[b"f%d" % i for i in range(6)], sizes=sizes)
    monkeypatch.setattr(P, "TIGHTEN_SECONDS", 0.0)
    assert len(P.plan([g], DISC).discs) == 3
    monkeypatch.undo()
    p = P.plan([g], DISC)
    assert len(p.discs) == p.lower_bound == _fewest_discs(g, p.usable_sectors) == 2
