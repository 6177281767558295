"""The file system an images: drive's folder was on when rabtui last wrote an image there, to tell
it from the directory below its mount point once its disk is unmounted, as media/mounts.py does for
a medium: an image written there would hide under the disk once it is mounted again, while its
checkpoint read complete."""

from __future__ import annotations

from rabtui import mount_points
from rabtui.checkpoint import xorriso
from rabtui.state.store import Store

_KEY = "images_mount:"


def remember(store: Store, drive: str) -> None:
    """Called once an image is written: the file system its folder is on now."""
    if xorriso.is_image_drive(drive):
        folder = xorriso.images_dir(drive)
        store.set_meta(_KEY + folder, mount_points.mount_point(folder))


def away(store: Store, drive: str) -> str | None:
    """Why the images folder is not on the disk it was on when an image was last written into it
    (that disk is not mounted), or None. A folder now on another file system while that disk's
    mount point is still mounted (a new disk mounted at the folder), or with that mount point
    removed (its disk gone for good, the operator's way to say so), is taken as it is now."""
    if not xorriso.is_image_drive(drive):
        return None
    folder = xorriso.images_dir(drive)
    before = store.meta(_KEY + folder)
    now = mount_points.mount_point(folder)
    if before is None or before == now:
        return None
    if not mount_points.unmounted(before):
        return None
    return (f"the images folder {folder} was on the disk mounted at {before} when the last image was written"
            f" there, and is on {now} now: that disk is not mounted (an image written below its mount point would"
            f" hide under it); mount it, then answer ready (if that disk is gone for good and the images are to"
            f" go on {now} from now on: remove the directory {before}, where it was mounted, then answer ready)")
