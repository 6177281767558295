"""xorriso argv and command-file builders, output parsers, catalog escaping (pure functions), and
one round trip of hostile names through a real command file."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from rabtui.checkpoint import layout, xorriso as X, xorriso_output
from tests.trees import HOSTILE_NAMES


def test_quote_encodes_every_unusual_byte():
    assert X.quote(b"plain name-1.txt") == '"plain name-1.txt"'
    assert X.quote(b"a\"b'c\\d") == '"a\\x22b\\x27c\\x5cd"'
    assert X.quote(b"new\nline\ttab\xff") == '"new\\x0aline\\x09tab\\xff"'
    assert X.quote("unicod\u00e9") == '"unicod\\xc3\\xa9"'
    assert X.arg("/srv/a\\b") == "/srv/a\\\\b"


def test_command_file():
    entries = [X.Entry("dir", b"/m/d", b"/data/s/d"), X.Entry("file", b"/m/d/a b", b"/data/s/d/a b"),
               X.Entry("tree", b"/st/rabtui", b"/rabtui"),
               X.Entry("cut", b"/m/d/big", b"/data/s/d/big.part02-of-03", offset=4096, length=2048)]
    text = X.command_file("RAB12D03", entries)
    assert text.splitlines() == [
        '-volid "RAB12D03"',
        '-cdx "/st"', '-cd "/"', '-map "rabtui" "rabtui"',
        '-cdx "/m"', '-mkdir "/data/s" --', '-cd "/data/s"', '-map_single "d" "d"',
        '-cdx "d"', '-cd "d"', '-cut_out "big" 4096 2048 "big.part02-of-03"', '-map "a b" "a b"',
        "-iso_rr_pattern off", '-chmod go-rwx "/data" --',
    ]
    # a deep path: each line within xorriso's 4095 bytes, the directories given in steps
    deep = b"/m/" + b"/".join([b"\xc3\xa9" * 127] * 15)
    text = X.command_file("RAB1D01", [X.Entry("file", deep + b"/f", deep.replace(b"/m/", b"/data/") + b"/f")])
    assert max(len(line) for line in text.splitlines()) < 1200
    assert text.count("-cdx ") > 1 and text.splitlines()[-3] == '-map "f" "f"'


def test_a_cut_part_is_given_the_acl_and_xattrs_of_its_file_from_lists():
    """-setfattr_list then -setfacl_list (that one with patterns off), right after its -cut_out,
    where the command file is in the part's directory; names as \\ooo where unusual, values as they
    are but for the bytes a line cannot hold (0, newline, backslash)."""
    cut = X.Entry("cut", b"/m/d/big", b"/data/s/d/a*.part01-of-02", offset=0, length=2048,
                  attrs=[(b"user.a=b", b'\x00"\\ v\n'), (b"system.posix_acl_access", b"\x02\x00")],
                  acl="user::rw-\nuser:1234:r--\ngroup::r--\nmask::r--\nother::---", lists=b"/st/lists-01/3")
    plain = X.Entry("cut", b"/m/d/other", b"/data/s/d/Other.part02-of-02", offset=2048, length=2048)
    lines = X.command_file("RAB1D01", [cut, plain]).splitlines()
    at = lines.index('-cut_out "big" 0 2048 "a*.part01-of-02"')
    assert lines[at + 1:at + 5] == ['-setfattr_list "/st/lists-01/3.xattrs"', "-iso_rr_pattern off",
                                    '-setfacl_list "/st/lists-01/3.acl"', '-cut_out "other" 2048 2048 "Other.part02-of-02"']
    assert X.attr_lists([cut, plain]) == [
        (b"/st/lists-01/3.xattrs", b'# file: a*.part01-of-02\nuser.a\\075b="\\000"\\134 v\\012"\n'
                                   b'system.posix_acl_access="\x02\\000"\n'),
        (b"/st/lists-01/3.acl", b"# file: a*.part01-of-02\nuser::rw-\nuser:1234:r--\ngroup::r--\nmask::r--\nother::---\n")]
    long = X.Entry("cut", b"/m/big", b"/d/big.part01-of-02", attrs=[(b"user.big", bytes(4096))], lists=b"/l/0")
    with pytest.raises(ValueError, match="user.big"):
        X.attr_lists([long])
    with pytest.raises(ValueError):
        X.command_file("RAB1D01", [X.Entry("cut", b"/m/big", b"/d/big.part01-of-02", attrs=[(b"user.x", b"1")])])


def test_argv_builders():
    argv = X.burn_argv("/usr/bin/xorriso", "images:/srv/iso", "RAB1D02", "/s/disc-02.xorriso")
    assert argv[:6] == ["/usr/bin/xorriso", "-no_rc", "-backslash_codes", "on", "-pkt_output", "on"]
    assert "-md5" in argv and argv[argv.index("-md5") + 1] == "on"
    assert argv[argv.index("-compliance") + 1] == "iso_9660_level=3:no_emul_toc"
    assert argv[argv.index("-outdev") + 1] == "stdio:/srv/iso/RAB1D02.iso"
    assert argv[argv.index("-options_from_file") + 1] == "/s/disc-02.xorriso"
    assert argv[-2:] == ["-commit", "-end"] and "-close" not in argv
    trial = X.trial_argv("xorriso", "/s/f")
    assert trial[trial.index("-outdev") + 1] == "stdio:/dev/null" and "-close" not in trial
    assert trial[1:trial.index("-outdev")] == argv[1:argv.index("-outdev")]     # the settings of a disc
    real = X.burn_argv("xorriso", "/dev/sr0", "RAB1D02", "/s/f")
    assert real[real.index("-outdev") + 1] == "/dev/sr0" and real[real.index("-close") + 1] == "on"
    check = X.check_argv("xorriso", "/dev/sr0", "RAB1D02")
    # -md5 and -assert_volid must come before -indev to take effect
    assert check.index("-md5") < check.index("-indev") and check.index("-assert_volid") < check.index("-indev")
    assert check[check.index("-assert_volid") + 1:check.index("-assert_volid") + 3] == ["RAB1D02", "FATAL"]
    assert "-check_media" in check and "-check_md5_r" in check
    assert X.media_argv("xorriso", "/dev/sr0")[-3:] == ["-toc", "-tell_media_space", "-end"]
    assert X.eject_argv("xorriso", "/dev/sr0")[-3:] == ["-eject", "all", "-end"]
    assert X.device_of("images:/x/", "RAB3D01") == "stdio:/x/RAB3D01.iso"


def test_parsers():
    assert xorriso_output.parse_update("xorriso : UPDATE : Writing:      12225s   78.6%   fifo   0%  buf  50%") == \
        {"sectors": 12225, "percent": 78.6}
    assert xorriso_output.parse_update("xorriso : UPDATE :       1 files added in 1 seconds") is None
    assert xorriso_output.payload(b"I:1: xorriso : NOTE : x") == ("I", "xorriso : NOTE : x")
    media = xorriso_output.parse_media(["R:1: Media current: BD-R sequential recordable", "R:1: Media status : is blank",
                           "R:1: Media space  : 11826176s", "R:1: After commit : 11826176s"])
    assert media == {"status": "is blank", "blank": True, "free_sectors": 11826176}
    written = xorriso_output.parse_media(["R:1: Media status : is written , is closed", "R:1: Media space  : 0s"])
    assert written["blank"] is False and written["free_sectors"] == 0
    assert xorriso_output.parse_volid(["R:1: Volume Id    : RAB7D02"]) == "RAB7D02"
    good = xorriso_output.parse_check(["R:1: Media region :          0 ,      15404 , + good",
                          "R:1: File contents and their MD5 checksums match."], 0)
    assert good.ok and not good.mismatched
    bad = xorriso_output.parse_check(["R:1: Media region :          0 ,      10 , - unreadable",
                         "R:1: MD5 MISMATCH: '/data/x/new\\nline \\377'",
                         "R:1: Mismatch detected between file contents and MD5 checksums."], 32)
    assert not bad.ok and bad.mismatched == [b"/data/x/new\nline \xff"] and bad.bad_regions == [(0, 10, "- unreadable")]
    silent = xorriso_output.parse_check(["R:1: Not a single file with MD5 checksum was found."], 0)
    assert not silent.ok
    assert xorriso_output.unescape_output("back\\\\slash\\ttab\\101") == b"back\\slash\ttabA"


def _decoded_byte_by_byte(text: str) -> bytes:
    """xorriso's encode_output undone one byte at a time, as its manual describes it."""
    raw, out, i = text.encode("utf-8", "surrogateescape"), bytearray(), 0
    simple = dict(zip(b"ntrabfve\\", b"\n\t\r\a\b\f\v\x1b\\"))
    while i < len(raw):
        if raw[i] == 92 and i + 3 < len(raw) and all(48 <= x <= 55 for x in raw[i + 1:i + 4]):
            out.append(int(raw[i + 1:i + 4], 8) & 0xFF)
            i += 4
        elif raw[i] == 92 and i + 1 < len(raw) and raw[i + 1] in simple:
            out.append(simple[raw[i + 1]])
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return bytes(out)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="\\0123789ntrabfvexz\u00e9\udcff", max_size=24))
def test_unescape_output_reads_every_code_as_a_byte_by_byte_reading_does(text):
    assert xorriso_output.unescape_output(text) == _decoded_byte_by_byte(text)


def test_catalog_escaping_round_trips():
    for name in HOSTILE_NAMES + [b"a\\nb", b"\\x41"]:
        text = layout.escape_path(name)
        assert "\t" not in text and "\n" not in text and "\r" not in text
        assert layout.unescape_path(text) == name
    assert layout.escape_path(b"tab\there\xff") == "tab\\there\\xff"
    rows = [layout.Row(1, "s", b"p", b"data/s/new\nline", 3, 100, "ab" * 32)]
    parsed = layout.parse_catalog("".join(layout.catalog_lines(rows)))
    assert parsed == [(1, b"data/s/new\nline", 3, 100, "ab" * 32)]
    assert layout.volid(12, 3) == "RAB12D03"


def test_hostile_names_survive_a_real_command_file(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    entries = []
    for i, name in enumerate(HOSTILE_NAMES):
        path = os.path.join(os.fsencode(src), name)
        with open(path, "wb") as f:
            f.write(b"%d" % i)
        entries.append(X.Entry("file", path, b"/d/" + name))
    cmdfile = tmp_path / "cmds"
    cmdfile.write_text(X.command_file("RAB1D01", entries), encoding="ascii")
    argv = X.burn_argv("xorriso", f"images:{tmp_path}", "RAB1D01", str(cmdfile))
    subprocess.run(argv, check=True, capture_output=True)
    out = tmp_path / "out"
    subprocess.run(X.extract_argv("xorriso", f"stdio:{tmp_path}/RAB1D01.iso", "RAB1D01", str(out)), check=True,
                   capture_output=True)
    got = {n: open(os.path.join(os.fsencode(out), b"d", n), "rb").read() for n in os.listdir(os.fsencode(out / "d"))}
    assert got == {name: b"%d" % i for i, name in enumerate(HOSTILE_NAMES)}


def test_cut_parts_with_hostile_names_get_their_acl_and_xattrs_in_a_real_image(tmp_path):
    """Every hostile name, cut: its part holds the xattrs (any byte in names and values, 0 too)
    and the ACL given, and a part whose name the others' would match as patterns gets none."""
    src = tmp_path / "src"
    src.mkdir()
    big = os.path.join(os.fsencode(src), b"big")
    with open(big, "wb") as f:
        f.write(b"x" * 5000)
    acl = "user::rw-\nuser:1234:r-x\ngroup::r--\nmask::r-x\nother::r--"
    entries = []
    for i, name in enumerate(HOSTILE_NAMES):
        entries.append(X.Entry("cut", big, b"/d/" + name + b".part01-of-02", 0, 3000,
                               attrs=[(b"user.n\xff=%d" % i, b"\x00%d\n\"=\\" % i)], acl=acl,
                               lists=os.path.join(os.fsencode(tmp_path), b"%d" % i)))
    entries.append(X.Entry("cut", big, b"/d/globbing-x.part01-of-02", 3000, 3000))
    for path, text in X.attr_lists(entries):
        with open(path, "wb") as f:
            f.write(text)
    cmdfile = tmp_path / "cmds"
    cmdfile.write_text(X.command_file("RAB1D01", entries), encoding="ascii")
    subprocess.run(X.burn_argv("xorriso", f"images:{tmp_path}", "RAB1D01", str(cmdfile)), check=True,
                   capture_output=True)
    listed = subprocess.run(X.attrs_argv("xorriso", f"{tmp_path}/RAB1D01.iso", "RAB1D01"), check=True,
                            capture_output=True).stdout.splitlines()
    got = xorriso_output.parse_getfattr(listed)
    want = {b"d/" + name + b".part01-of-02": {b"user.n\xff=%d" % i: b"\x00%d\n\"=\\" % i,
                                              xorriso_output.ACL_KEY: acl.encode()}
            for i, name in enumerate(HOSTILE_NAMES)}
    assert {path: {k: v for k, v in attrs.items() if k != b"system.posix_acl_access"}
            for path, attrs in got.items()} == want


_NAME = st.one_of(st.binary(min_size=1, max_size=16), st.binary(min_size=200, max_size=255)).map(
    lambda b: b.replace(b"/", b"\xff").replace(b"\0", b"\n")).filter(lambda b: b not in (b".", b".."))


@settings(max_examples=8)
@given(st.lists(st.lists(_NAME, min_size=1, max_size=6), min_size=1, max_size=4))
def test_any_names_round_trip_through_a_real_command_file(tmp_path_factory, paths):
    """Generated paths (any byte but / and NUL, names up to 255 bytes, up to ~1,500 bytes deep)
    go into an image through the command file and come back byte for byte with osirrox."""
    base = tmp_path_factory.mktemp("names")
    src = os.path.join(os.fsencode(base), b"src")
    os.mkdir(src)
    files: dict[bytes, bytes] = {}
    for i, names in enumerate(paths):
        d = os.path.join(src, *names[:-1]) if names[:-1] else src
        rel = b"/".join(names)
        if any(rel.startswith(f + b"/") or f.startswith(rel + b"/") or f == rel for f in files):
            continue   # a name that is a file in one path and a directory in another
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, names[-1]), "wb") as f:
            f.write(b"%d" % i)
        files[rel] = b"%d" % i
    entries = [X.Entry("file", os.path.join(src, rel), b"/d/" + rel) for rel in sorted(files)]
    cmdfile = base / "cmds"
    cmdfile.write_text(X.command_file("RAB1D01", entries), encoding="ascii")
    done = subprocess.run(X.burn_argv("xorriso", f"images:{base}", "RAB1D01", str(cmdfile)), capture_output=True)
    assert done.returncode == 0, done.stdout[-2000:]
    out = base / "out"
    subprocess.run(X.extract_argv("xorriso", f"stdio:{base}/RAB1D01.iso", "RAB1D01", str(out)), check=True,
                   capture_output=True)
    got = {}
    top = os.path.join(os.fsencode(out), b"d")
    for dirpath, _dirs, names in os.walk(top):
        for n in names:
            p = os.path.join(dirpath, n)
            got[os.path.relpath(p, top)] = open(p, "rb").read()
    assert got == files


_NAME_BYTE = st.integers(1, 255).filter(lambda b: b != 0x2F)
LINK_NAMES = st.one_of(st.lists(_NAME_BYTE, min_size=1, max_size=40),
                       st.lists(_NAME_BYTE, min_size=250, max_size=255)).map(bytes) \
    .filter(lambda n: n not in (b".", b".."))


@settings(max_examples=5)
@given(names=st.lists(LINK_NAMES, min_size=1, max_size=8, unique=True),
       targets=st.lists(st.binary(min_size=1, max_size=40).filter(lambda t: b"\0" not in t), min_size=8, max_size=8))
def test_lsdl_lines_of_a_real_image_give_each_symlinks_name_and_owner(names, targets):
    """`-exec lsdl` under encode_results, as the restore from discs reads it: every byte but / and
    NUL in a name (quotes, ` -> `, newlines, 8-bit), owners as numbers, other lines ignored."""
    import tempfile

    names = names + [b"x' -> 'y", b"it's", b"new\nline \xff"] + HOSTILE_NAMES
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(os.fsencode(tmp), b"src")
        os.mkdir(src)
        with open(os.path.join(src, b"plain file"), "wb") as f:
            f.write(b"not a link")
        want = {}
        for i, name in enumerate(names):
            target = (targets + [b"a' -> 'b"])[i % 9]
            os.symlink(target, os.path.join(src, name))
            owner = (1000 + i, 70000 + i) if os.geteuid() == 0 else (os.getuid(), os.getgid())
            os.lchown(os.path.join(src, name), *owner)
            want[b"/d/" + name] = owner
        iso = os.path.join(tmp, "links.iso")
        subprocess.run(["xorriso", "-outdev", iso, "-rockridge", "on", "-map", src, "/d"],
                       check=True, capture_output=True)
        argv = ["xorriso", "-indev", iso, "-backslash_codes", "encode_results",
                "-find", "/d", "-type", "l", "-exec", "lsdl", "--"]
        out = subprocess.run(argv, check=True, capture_output=True).stdout
    got = [xorriso_output.parse_lsdl(line) for line in out.split(b"\n") if line]
    assert all(entry is not None and stat.S_ISLNK(entry[1]) for entry in got)
    assert {p: owner for p, _mode, _target, owner in got} == want
    plain = xorriso_output.parse_lsdl(b"-rw-r--r--    1 0        0       10 Dec  2 17:46 '/d/plain file'")
    assert plain is not None and not stat.S_ISLNK(plain[1])


def test_parse_lsdl_reads_kind_mode_special_bits_acl_mark_and_target():
    lines = {
        b"-rwsr-xr-x    1 0        0               1 Dec  4 05:45 '/d/we'\"'\"'ird\\nname'": (b"/d/we'ird\nname", 0o104755, None, (0, 0)),
        b"lrwxrwxrwx    1 0        0               0 Dec  4 05:45 '/d/ln' -> 'tar \\377get'": (b"/d/ln", 0o120777, b"tar \xffget", (0, 0)),
        b"crw-r--r--    1 0        0             1,3 Dec  4 05:45 '/d/cdev'": (b"/d/cdev", 0o020644, None, (0, 0)),
        b"drwxrwx--T    1 0        0               0 Jan  2  2020 '/d/dd'": (b"/d/dd", 0o041770, None, (0, 0)),
        b"-rw-rwSr--+   1 12       34              2 Dec  4 05:32 '/d/a'": (b"/d/a", 0o102664, None, (12, 34)),
    }
    for line, want in lines.items():
        assert xorriso_output.parse_lsdl(line) == want, line
    assert xorriso_output.parse_lsdl(b"xorriso : NOTE : something") is None


def test_lsdl_date_reads_the_time_as_shown_and_lsdl_dates_writes_both_forms():
    assert xorriso_output.lsdl_date(b"-rw-r--r--    1 0        0               1 Dec  4 05:45 '/d/a b'") == "Dec 4 05:45"
    assert xorriso_output.lsdl_date(b"drwxrwx--T    1 0        0               0 Jan  2  2020 '/d/dd'") == "Jan 2 2020"
    assert xorriso_output.lsdl_date(b"xorriso : NOTE : something") is None
    assert xorriso_output.lsdl_dates(1_600_000_000) == ("Sep 13 12:26", "Sep 13 2020")


def test_parse_report_lba_reads_the_first_extent_of_a_file():
    line = b"File data lba:  0 ,       59 ,        1 ,        1 , '/t/a b\\n\"'\"'\"'\\377\\\\x'"
    assert xorriso_output.parse_report_lba(line) == (b"/t/a b\n\"'\xff\\x", 59, 1)
    assert xorriso_output.parse_report_lba(b"File data lba:  1 ,       59 ,        1 ,        1 , '/t/f'") is None
    assert xorriso_output.parse_report_lba(b"Report layout: xt , Startlba ,   Blocks , Filesize , ISO image path") is None


def test_the_masks_of_directories_with_an_acl_are_read_from_getfacl():
    from rabtui.checkpoint import acl_dirs

    lines = [b"R:1: # file: data/s/odd\\377name", b"R:1: # owner: root", b"R:1: user::rw-", b"R:1: user:1234:r-x",
             b"R:1: group::r--", b"R:1: mask::rwx", b"R:1: other::r--", b"R:1: ", b"I:1: xorriso : UPDATE : 3 files",
             b"# file: data/s/d", b"user::rwx", b"group::r-x", b"other::---",
             b"default:user::rwx", b"default:group::r-x", b"default:mask::r-x", b"default:other::---"]
    assert acl_dirs.masks(lines) == {b"/data/s/odd\xffname": 7}
    assert acl_dirs.find_argv("/a b") == ["-find", "/a b", "-type", "d", "-has_acl", "-exec", "getfacl", "--"]


def test_each_directory_is_filled_in_descending_byte_order_after_the_directory_itself():
    """libisofs keeps a directory's children in a list sorted by name and walks it from the head
    to insert each one: names given in ascending order cost a walk to the end each (a directory of
    100,000 files took more than 10 minutes to add to one CD), in descending order none."""
    names = [b"a", b"ab", b"b", b"B", b"\x7f", b"\xc3\xa9", b"\xff", b"a\nb"]
    entries = [X.Entry("file", b"/st/README.txt", b"/README.txt"), X.Entry("tree", b"/st/rabtui", b"/rabtui"),
               X.Entry("dir", b"/m/d", b"/data/d")]
    entries += [X.Entry("file", b"/m/d/" + n, b"/data/d/" + n) for n in sorted(names)]
    entries += [X.Entry("dir", b"/m/d/sub", b"/data/d/sub"), X.Entry("file", b"/m/d/sub/x", b"/data/d/sub/x")]
    lines = X.command_file("RAB1D01", entries).splitlines()
    added = [line.split(" ")[-1] for line in lines if line.startswith(("-map", "-map_single"))]
    below = [q for n in sorted(names + [b"sub"], reverse=True) for q in ([n, b"x"] if n == b"sub" else [n])]
    assert added == [X.quote(n) for n in [b"rabtui", b"d", *below, b"README.txt"]], added
