"""Key -> path mapping: every hostile key is refused, every ordinary one lands inside the dir."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from awspar.s3.paths import KeyPathError, is_folder_marker, key_to_path, key_to_relpath, prepare_parent


@pytest.mark.parametrize(
    ("key", "relpath"),
    [
        ("a.txt", "a.txt"),
        ("a//b", "a/b"),
        ("./a/./b", "a/b"),
        ("dir/with space/and+plus%25.txt", "dir/with space/and+plus%25.txt"),
        ("ünï/cødé/ファイル", "ünï/cødé/ファイル"),
        ("back\\slash:colon/CON", "back\\slash:colon/CON"),
        ("a/...", "a/..."),
        ("..a/b..", "..a/b.."),
    ],
)
def test_ordinary_keys_map_to_relative_paths(key: str, relpath: str) -> None:
    assert key_to_relpath(key) == relpath


@pytest.mark.parametrize(
    ("key", "code"),
    [
        ("../../x", "UnsafeKey"),
        ("a/../../b", "UnsafeKey"),
        ("a/../b", "UnsafeKey"),
        ("..", "UnsafeKey"),
        ("/abs", "UnsafeKey"),
        ("/etc/passwd", "UnsafeKey"),
        (".", "UnsafeKey"),
        ("", "UnsafeKey"),
        ("a\0b", "UnsafeKey"),
        ("x" * 256, "KeyNameTooLong"),
        ("dir/" + "é" * 128, "KeyNameTooLong"),  # 256 bytes in UTF-8
    ],
)
def test_hostile_keys_are_refused_with_a_code(key: str, code: str) -> None:
    with pytest.raises(KeyPathError) as info:
        key_to_relpath(key)
    assert info.value.code == code
    assert info.value.key == key
    assert code in str(info.value)


def test_longest_allowed_segment_and_long_keys_pass() -> None:
    key = "/".join(["y" * 255] * 4)  # 1023 bytes, under S3's 1024-byte limit
    assert key_to_relpath(key) == key


def test_folder_markers() -> None:
    assert is_folder_marker("photos/")
    assert not is_folder_marker("photos/a.jpg")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab./\\ \0é")), max_size=20))
def test_no_key_ever_maps_outside_the_directory(key: str) -> None:
    base = os.path.abspath("/tmp/awspar-out")
    try:
        path = key_to_path(base, key)
    except KeyPathError:
        return
    assert os.path.commonpath([base, path]) == base
    assert path != base
    assert os.path.normpath(path) == path  # no '.', '..' or '//' left in it


def test_symlink_inside_the_directory_cannot_redirect_writes(tmp_path) -> None:
    out = tmp_path / "out"
    outside = tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (out / "link").symlink_to(outside)
    path = key_to_path(str(out), "link/secret.txt")
    with pytest.raises(KeyPathError, match="symlink") as info:
        prepare_parent(os.path.realpath(out), path, "link/secret.txt")
    assert info.value.code == "UnsafeKey"


def test_file_where_a_directory_is_needed_is_a_path_conflict(tmp_path) -> None:
    (tmp_path / "a").write_bytes(b"file")
    path = key_to_path(str(tmp_path), "a/b")
    with pytest.raises(KeyPathError) as info:
        prepare_parent(os.path.realpath(tmp_path), path, "a/b")
    assert info.value.code == "PathConflict"


def test_prepare_parent_creates_nested_directories(tmp_path) -> None:
    path = key_to_path(str(tmp_path), "x/y/z.bin")
    prepare_parent(os.path.realpath(tmp_path), path, "x/y/z.bin")
    assert (tmp_path / "x" / "y").is_dir()
