"""rabtui: backups of remote hosts onto rotating media, checkpoints on write-once discs."""

__version__ = "0.1.0"
