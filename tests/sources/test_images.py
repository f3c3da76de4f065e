"""streampose.sources.images: ImageSource (folders, globs, single files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streampose.errors import SourceError
from streampose.sources import ImageSource, open_source
from tests.support.media import H, W, write_image
from tests.support.shared import shared_file

# -- ImageSource -----------------------------------------------------------------------


def test_image_folder_natural_order_and_mixed_sizes(tmp_path: Path) -> None:
    names = {"img10.png": 100, "img2.png": 20, "IMG3.PNG": 30, "img1.jpg": 10}
    for i, (name, value) in enumerate(names.items()):
        write_image(tmp_path / name, value, (W + i, H))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    write_image(tmp_path / "sub" / "img0.png", 0)
    with ImageSource(path=tmp_path) as source:
        frames = list(source.frames())
        assert source.names == ["img1.jpg", "img2.png", "IMG3.PNG", "img10.png"]
        info = source.info
    assert (info.width, info.height, info.frames, info.fps) == (W + 3, H, 4, None)
    assert info.time_base == 1 and [f.pts for f in frames] == [0, 1, 2, 3]
    assert [f.image.shape[1] for f in frames] == [W + 3, W + 1, W + 2, W]
    assert [int(f.image.mean()) for f in frames] == pytest.approx([10, 20, 30, 100], abs=2)


def test_image_source_glob_and_single_file(tmp_path: Path) -> None:
    for name in ("b.png", "a.png", "c.jpg"):
        write_image(tmp_path / name, 50)
    assert open_source(tmp_path / "*.png").names == ["a.png", "b.png"]
    single = open_source(tmp_path / "c.jpg")
    assert single.names == ["c.jpg"] and single.info.frames == 1


def test_unreadable_image_is_skipped_named_and_counted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_image(tmp_path / "a.png", 1)
    (tmp_path / "b.jpg").write_text("not a jpeg")
    write_image(tmp_path / "c.png", 3)
    source = ImageSource(path=tmp_path)
    assert source.sizes() == [(W, H), (W, H)]  # the bad one has no size: left out
    frames = list(source.frames())
    assert [f.index for f in frames] == [0, 2]  # the others keep their place in names
    assert source.names == ["a.png", "b.jpg", "c.png"]
    assert source.decode_errors == 1
    assert any("b.jpg" in r.getMessage() and "frame 1" in r.getMessage()
               for r in caplog.records)


def test_first_image_unreadable_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8 broken")
    write_image(tmp_path / "b.png", 2, (W + 1, H))
    with ImageSource(path=tmp_path) as source:
        assert (source.info.width, source.info.height) == (W + 1, H)
        assert [f.index for f in source.frames()] == [1]


def test_every_image_unreadable_names_the_folder(tmp_path: Path) -> None:
    for name in ("a.jpg", "b.png"):
        (tmp_path / name).write_text("not an image")
    with pytest.raises(SourceError, match=rf"{tmp_path}: none of the 2 images can be read"):
        ImageSource(path=tmp_path).open()


def test_images_unreadable_when_read_give_up(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 1)
    source = ImageSource(path=tmp_path)
    source.open()  # the header was readable; the file is damaged afterwards
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(SourceError, match="none of the 1 images can be read"):
        list(source.frames())


@pytest.mark.shared
def test_shared_images_folder() -> None:
    with open_source(shared_file("images")) as source:
        names = source.names
        first = next(source.frames())
    expected = [p for p in shared_file("images").iterdir() if p.suffix in (".jpg", ".png")]
    assert sorted(names) == sorted(p.name for p in expected)
    assert first.image.shape == (source.info.height, source.info.width, 3)
