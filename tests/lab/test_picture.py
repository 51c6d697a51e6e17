"""The drawn console: a real PNG, console-sized, with ink where the text is and nowhere else."""

from __future__ import annotations

from PIL import Image

from pxelab.lab.report.picture import COLUMNS, MARGIN, ROWS, cell_size, draw_screen

SCREEN = "\n".join([
    "+--------------------------+",
    "|      PXE Boot Menu       |",
    "+--------------------------+",
    "| > Standard Tiny Core 4.7.6",
])  # fmt: skip


def _ink(im: Image.Image, box: tuple[int, int, int, int]) -> int:
    return sum(im.crop(box).convert("L").histogram()[61:])


def test_a_drawn_screen_is_a_png_of_console_size_with_the_text_on_it(tmp_path):
    path = draw_screen(SCREEN, tmp_path / "shots" / "c0-1.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = cell_size()
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size == (COLUMNS * w + 2 * MARGIN, ROWS * h + 2 * MARGIN)
        # ink on the rows with text, none below them or right of the longest line
        assert _ink(im, (0, 0, im.width, 4 * h + MARGIN)) > 200
        assert _ink(im, (0, 5 * h + MARGIN, im.width, im.height)) == 0
        assert _ink(im, (40 * w + MARGIN, 0, im.width, im.height)) == 0


def test_a_wide_screen_grows_the_picture_and_an_empty_one_is_blank(tmp_path):
    w, _ = cell_size()
    with Image.open(draw_screen("x" * 100, tmp_path / "wide.png")) as im:
        assert im.width == 100 * w + 2 * MARGIN
    with Image.open(draw_screen("", tmp_path / "empty.png")) as im:
        assert _ink(im, (0, 0, im.width, im.height)) == 0
