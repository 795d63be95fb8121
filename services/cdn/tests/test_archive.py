"""Hostile archives are refused with a reason, and nothing is written outside the store."""

import io
import tarfile
import zipfile

import pytest

from revue.cdn.archive import ArchiveLimits, UnsafeArchiveError, extract


def tar_with(path, members):
    with tarfile.open(path, "w:gz") as bundle:
        for info, data in members:
            bundle.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file_member(name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def link_member(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def test_a_clean_archive_extracts(tmp_path):
    archive = tar_with(tmp_path / "ok.tar.gz", [file_member("dist/app.js", b"let a = 1\n")])
    assert extract(archive, tmp_path / "out") == 1
    assert (tmp_path / "out/dist/app.js").read_bytes() == b"let a = 1\n"


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ([file_member("../escape.js")], "path traversal"),
        ([file_member("a/../../escape.js")], "path traversal"),
        ([file_member("/etc/cron.d/evil")], "absolute path"),
        ([link_member("app.js", "/etc/passwd")], "link"),
        ([link_member("app.js", "other.js", tarfile.LNKTYPE)], "link"),
    ],
)
def test_hostile_tar_members_are_refused(tmp_path, members, reason):
    archive = tar_with(tmp_path / "bad.tar.gz", members)
    with pytest.raises(UnsafeArchiveError, match=reason):
        extract(archive, tmp_path / "store/incoming/x")
    assert not (tmp_path / "store/incoming/x").exists()
    assert not (tmp_path / "escape.js").exists()
    assert not (tmp_path / "store/escape.js").exists()


def test_a_compression_bomb_is_refused_while_reading(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("zeros.js", b"\0" * (50 * 1024 * 1024))
    assert archive.stat().st_size < 200 * 1024
    with pytest.raises(UnsafeArchiveError, match="compression ratio"):
        extract(archive, tmp_path / "out", ArchiveLimits(max_ratio=100))
    assert not (tmp_path / "out").exists()


def test_zip_traversal_and_file_count_are_refused(tmp_path):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("../../evil.sh", b"echo")
    with pytest.raises(UnsafeArchiveError, match="path traversal"):
        extract(archive, tmp_path / "out")
    many = tar_with(tmp_path / "many.tar.gz", [file_member(f"f{i}.js") for i in range(6)])
    with pytest.raises(UnsafeArchiveError, match="more than 5 files"):
        extract(many, tmp_path / "out2", ArchiveLimits(max_files=5))


def test_not_an_archive_is_refused(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"definitely not an archive")
    with pytest.raises(UnsafeArchiveError, match=r"not a tar\.gz or zip"):
        extract(junk, tmp_path / "out")


def test_an_oversized_pax_header_is_refused_before_it_is_read(tmp_path):
    import tracemalloc

    archive = tmp_path / "pax-bomb.tar.gz"
    with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT) as bundle:
        info, data = file_member("app.js", b"let a = 1\n")
        info.pax_headers = {"comment": "x" * (30 * 1024 * 1024)}
        bundle.addfile(info, io.BytesIO(data))
    assert archive.stat().st_size < 200 * 1024  # a small upload...
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeArchiveError, match="extended tar header"):
            extract(archive, tmp_path / "out")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, peak  # ...whose 30 MB header was never read whole
    assert not (tmp_path / "out").exists()


def test_a_gnu_long_name_header_is_capped_too(tmp_path):
    archive = tmp_path / "long.tar.gz"
    with tarfile.open(archive, "w:gz", format=tarfile.GNU_FORMAT) as bundle:
        info, data = file_member("a" * 200_000, b"x")
        bundle.addfile(info, io.BytesIO(data))
    with pytest.raises(UnsafeArchiveError, match="extended tar header"):
        extract(archive, tmp_path / "out")


def test_directories_count_against_the_member_limit(tmp_path):
    members = []
    for index in range(5_001):
        info = tarfile.TarInfo(f"d{index}")
        info.type = tarfile.DIRTYPE
        members.append((info, None))
    archive = tar_with(tmp_path / "dirs.tar.gz", members)
    with pytest.raises(UnsafeArchiveError, match="more than 10 files or directories"):
        extract(archive, tmp_path / "out", ArchiveLimits(max_files=10))
    assert not (tmp_path / "out").exists()

    many = tmp_path / "dirs.zip"
    with zipfile.ZipFile(many, "w") as bundle:
        for index in range(20):
            bundle.writestr(f"d{index}/", b"")
    with pytest.raises(UnsafeArchiveError, match="more than 10 files or directories"):
        extract(many, tmp_path / "out2", ArchiveLimits(max_files=10))
