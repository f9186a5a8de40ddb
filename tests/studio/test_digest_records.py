"""A model's sha256 is trusted while its file identity holds, and re-hashed when it changes.

The proof that an unchanged file is not re-read: a record that names a digest the file
does not have is believed while the file keeps the recorded identity (device, inode,
size, mtime). A real hash would have caught the lie.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tfstudio.digest import RECORDS_DIR, file_sha256, recorded_sha256, remember_sha256
from tfstudio.studio import Studio

LIE = "0" * 64


def _copy(src: Path, tmp_path: Path) -> Path:
    model = tmp_path / "model.tflite"
    shutil.copyfile(src, model)
    return model


def test_a_same_identity_file_is_not_read_again(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    studio = Studio(home=tmp_path / "home")
    model = _copy(tiny_models["float32"], tmp_path)
    real = studio.inspect(model).sha256
    assert real == file_sha256(model)
    assert recorded_sha256(model, studio.home / RECORDS_DIR) == real  # the first inspect records
    remember_sha256(model, LIE, model.stat(), studio.home / RECORDS_DIR)
    assert studio.inspect(model).sha256 == LIE


def test_a_changed_file_is_hashed_again(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    studio = Studio(home=tmp_path / "home")
    records = studio.home / RECORDS_DIR
    model = _copy(tiny_models["float32"], tmp_path)
    remember_sha256(model, LIE, model.stat(), records)
    st = model.stat()
    with open(model, "r+b") as handle:  # same size; the write moves the mtime
        handle.seek(st.st_size - 1)
        last = handle.read(1)
        handle.seek(st.st_size - 1)
        handle.write(bytes([last[0] ^ 1]))
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert studio.inspect(model).sha256 == file_sha256(model) != LIE


def test_a_replaced_file_with_the_old_size_and_mtime_is_hashed_again(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    """A new inode (a rename over the model) is a new file, even with the old mtime."""
    studio = Studio(home=tmp_path / "home")
    records = studio.home / RECORDS_DIR
    model = _copy(tiny_models["float32"], tmp_path)
    st = model.stat()
    remember_sha256(model, LIE, st, records)
    (tmp_path / "new").mkdir()
    other = _copy(tiny_models["float32"], tmp_path / "new")  # a second inode, same bytes
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, model)
    assert model.stat().st_ino != st.st_ino
    assert studio.inspect(model).sha256 == file_sha256(model) != LIE


def test_a_record_for_another_path_is_not_trusted(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    records = tmp_path / "records"
    model = _copy(tiny_models["float32"], tmp_path)
    remember_sha256(model, LIE, model.stat(), records)
    link = tmp_path / "elsewhere.tflite"
    os.link(model, link)  # same identity, another name: its own record, none yet
    assert recorded_sha256(link, records) is None


def test_a_conversion_records_what_it_wrote(mlp, tmp_path: Path) -> None:
    """A deploy right after `convert` finds the digest recorded: the model is not hashed again."""
    studio = Studio()
    variant = studio.convert(mlp.h5, tmp_path / "out", "float32").variants[0]
    assert recorded_sha256(variant.path, studio.home / RECORDS_DIR) == variant.facts.sha256
