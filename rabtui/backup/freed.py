"""The space a cleanup frees, counting hard links: an inode is freed only when every one of its
links lies in the trees being deleted (st_nlink equals the links found there)."""

from __future__ import annotations

import os
from pathlib import Path

from rabtui.media import fstree


def _walk(top: Path, links: dict[tuple[int, int], int], sizes: dict[tuple[int, int], int],
          nlinks: dict[tuple[int, int], int]) -> None:
    for _, st in fstree.scan(os.fsencode(top)):
        key = (st.st_dev, st.st_ino)
        links[key] = links.get(key, 0) + 1
        nlinks[key] = st.st_nlink
        sizes[key] = st.st_blocks * 512 if st.st_blocks else st.st_size


class FreedCounter:
    """Space freed by deleting a growing set of trees: an inode counts once every one of its
    links has been seen in the set (st_nlink), so files hard-linked from kept backups count 0."""

    def __init__(self):
        self.links: dict = {}
        self.sizes: dict = {}
        self.nlinks: dict = {}
        self.total = 0

    def add(self, tree: Path, extra_links=()) -> int:
        """Add a tree (and links elsewhere that go with it: (dev, ino) keys); returns how much more
        the set frees now."""
        before = self.total
        if Path(tree).is_dir():
            _walk(Path(tree), self.links, self.sizes, self.nlinks)
            for key in extra_links:
                if key in self.sizes:     # else no file of the tree (reached through a symlink planted in it)
                    self.links[key] = self.links.get(key, 0) + 1
            self.total = sum(self.sizes[k] for k, n in self.links.items() if n >= self.nlinks.get(k, 1))
        return self.total - before
