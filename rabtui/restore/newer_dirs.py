"""Which shape of a path of an archive directory a restore from the medium gives, where backups
saved several there: an entry a backup saved is an older shape of its path when a newer backup, up
to the one restored, holds a directory there in its own tree. The rule is the checkpoint's too (a
disc must hold what a restore from the medium gives): own_dirs.dir_saved_after."""

from __future__ import annotations

from rabtui.checkpoint.own_dirs import dir_saved_after

__all__ = ["dir_saved_after"]
