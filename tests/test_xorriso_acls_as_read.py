"""The runs that print no mode and no ACL load the disc with -acl on (xorriso.ACLS_AS_READ): loaded
with none of -acl, -xattr, -md5, -hardlinks on, libisofs turns each ACL into text, looking up the
name of every id it holds, which for ids this machine does not know costs some 30 opened files each."""

from rabtui.checkpoint import disc_listing, xorriso
from rabtui.restore import disc_drive, links_again


def _before_indev(argv: list[str]) -> list[str]:
    return argv[:argv.index("-indev")]


def test_runs_without_acl_output_keep_the_acls_as_read():
    runs = [xorriso.volid_argv("xorriso", "stdio:/d.iso"),
            xorriso.concat_argv("xorriso", "stdio:/d.iso", "V", [b"/README.txt"]),
            disc_listing.names_argv("stdio:/d.iso", b"/", "xorriso", "V", acls=False),
            disc_listing.names_argv("stdio:/d.iso", b"/", "xorriso", "V"),
            disc_drive.xorriso_volid_argv("/dev/sr0"),
            links_again.lba_argv("/dev/sr0", b"/data")]
    for argv in runs:
        head = _before_indev(argv)
        assert any(head[i:i + 2] == xorriso.ACLS_AS_READ for i in range(len(head))), argv
