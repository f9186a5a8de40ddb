"""A conversion worker whose studio died removes its scratch folder even while its
main thread (the converter, TensorFlow's autograph) still writes into it."""

from __future__ import annotations

import threading
from pathlib import Path

from tfstudio.convert.worker import remove_scratch


def _keep_writing(scratch: Path, stop: threading.Event) -> None:
    number = 0
    while not stop.is_set():
        number += 1
        try:
            (scratch / f"__autograph_generated_file{number}.py").write_text("# generated")
            (scratch / "export-1" / f"variables.data-{number}").write_bytes(b"x" * 64)
        except OSError:
            pass  # the folder is going: the writer fails, as TensorFlow's would


def test_the_scratch_folder_goes_while_the_converter_still_writes_into_it(tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    for attempt in range(20):
        scratch = tmpdir / f"tfstudio-convert-4242-run{attempt}"
        (scratch / "export-1").mkdir(parents=True)
        stop = threading.Event()
        writer = threading.Thread(target=_keep_writing, args=(scratch, stop), daemon=True)
        writer.start()
        try:
            while not any(scratch.glob("export-1/variables.data-*")):
                pass
            remove_scratch([scratch])
        finally:
            stop.set()
            writer.join(10)
        assert sorted(p.name for p in tmpdir.iterdir()) == [], f"attempt {attempt}"


def test_a_scratch_folder_already_gone_is_fine(tmp_path: Path) -> None:
    remove_scratch([tmp_path / "tfstudio-convert-4242-gone"])
    assert not (tmp_path / "tfstudio-convert-4242-gone").exists()
