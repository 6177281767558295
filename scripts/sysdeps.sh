#!/usr/bin/env bash
# Makes sure the programs rabtui drives are installed: with apt-get when root, else says how.
# Optional ones (for some tests, which skip with the reason without them) never fail the set-up.
set -eu
need=()
command -v rsync >/dev/null || need+=(rsync)
command -v ssh >/dev/null || need+=(openssh-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v xorriso >/dev/null || need+=(xorriso)
command -v setpriv >/dev/null || need+=(util-linux)
# Debian's python3 makes no virtual environment (make's .venv) without python3-venv's ensurepip
"${PYTHON:-python3}" -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
command -v setfacl >/dev/null || need+=(acl)
command -v setcap >/dev/null || [ -x /usr/sbin/setcap ] || need+=(libcap2-bin)
if [ "${WITH_BENCH:-0}" = 1 ]; then command -v dirsplit >/dev/null || need+=(genisoimage); fi
optional=()
command -v promtool >/dev/null || optional+=(prometheus)
command -v mkfs.btrfs >/dev/null || [ -x /usr/sbin/mkfs.btrfs ] || optional+=(btrfs-progs)   # a target without ACLs
command -v busybox >/dev/null || optional+=(busybox-static)   # a source whose find is busybox's
for sh in fish tcsh zsh; do command -v $sh >/dev/null || optional+=($sh); done   # a source account's login shell
ls /usr/lib/*/libnss_wrapper.so /usr/lib64/libnss_wrapper.so >/dev/null 2>&1 || optional+=(libnss-wrapper)   # a test sshd's account of that shell
# media on FAT file systems, FUSE-mounted (a kernel without the vfat or exfat driver mounts them too)
command -v mkfs.vfat >/dev/null || [ -x /usr/sbin/mkfs.vfat ] || [ -x /sbin/mkfs.vfat ] || optional+=(dosfstools)
command -v mkfs.exfat >/dev/null || [ -x /usr/sbin/mkfs.exfat ] || [ -x /sbin/mkfs.exfat ] || optional+=(exfatprogs)
command -v mount.exfat-fuse >/dev/null || [ -x /usr/sbin/mount.exfat-fuse ] || [ -x /sbin/mount.exfat-fuse ] || optional+=(exfat-fuse)
command -v fusefat >/dev/null || optional+=(fusefat)
[ ${#need[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || [ ${#need[@]} -eq 0 ]
    if [ ${#need[@]} -gt 0 ]; then
        echo "installing: ${need[*]}"
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    if [ ${#optional[@]} -gt 0 ]; then
        apt-get install -y -qq --no-install-recommends "${optional[@]}" >/dev/null 2>&1 \
            || echo "not installed (optional; the tests that need them skip): ${optional[*]}"
    fi
elif [ ${#need[@]} -gt 0 ]; then
    echo "rabtui needs: ${need[*]}" >&2
    echo "run: sudo apt-get install -y ${need[*]}" >&2
    exit 1
fi
