"""Each lock is its own file: no id a configuration allows makes one lock's file another's (medium
`users-a`'s lock was medium `a`'s users' lock: a backup onto one refused as busy by the other, and a
medium left mounted, its users taken to be still there)."""

from __future__ import annotations

import itertools

from rabtui.state import locks

IDS = ["a", "users-a", "users-of-medium-a", "of-medium-a", "medium-a", "1", "a.b", "a_b", "a-b"]


def test_no_two_locks_of_any_ids_share_a_file(tmp_path):
    made = {}
    for i in IDS:
        for kind, lock in (("source", locks.source_lock(tmp_path, i)),
                           ("medium", locks.medium_lock(tmp_path, i, "a backup")),
                           ("mounting", locks.mounting_lock(tmp_path, i)),
                           ("users", locks.medium_users_lock(tmp_path, i)),
                           ("reading", locks.reading_lock(tmp_path, i)),
                           ("union", locks.union_lock(tmp_path, i))):
            made[(kind, i)] = lock.path
    for (a, pa), (b, pb) in itertools.combinations(made.items(), 2):
        assert pa != pb, f"{a} and {b} share {pa.name}"
