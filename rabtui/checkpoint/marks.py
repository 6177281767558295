"""What the sha256 column of `disc_files` and of a disc's catalog holds for an entry that is not a
regular file (content.py walks a directory's tree into them)."""

DIR_MARK = "dir"          # an empty directory
LINK_MARK = "symlink"     # a symbolic link
SPECIAL_MARK = "special"  # a FIFO or device node (Rock Ridge keeps them)
MARKS = (DIR_MARK, LINK_MARK, SPECIAL_MARK)   # the rows that are not regular files
