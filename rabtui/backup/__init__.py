"""Level 1: backups of sources onto rotating media (pipeline, media, transfer, sizes, catalog)."""
