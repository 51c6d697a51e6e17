"""A text screen drawn as a PNG, so a client without a real screen still has a picture.

Scripted clients and serial-only machines have only the rendered console (pyte's rows, or the
probe's drawn screen); the report shows every client as an image, so those rows are painted in a
monospace font on a console-like background: 80x25 at least, wider or taller if the text is.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

DEJAVU_MONO = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")
COLUMNS, ROWS = 80, 25
BACKGROUND = (0, 0, 0)
FOREGROUND = (200, 200, 200)
MARGIN = 4


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # DejaVu (fonts-dejavu-core, `pxelab doctor`) draws box characters; Pillow's own font is
    # the fallback so a picture is always made.
    if DEJAVU_MONO.exists():
        return ImageFont.truetype(str(DEJAVU_MONO), size)
    return ImageFont.load_default()


def draw_screen(text: str, path: Path, *, columns: int = COLUMNS, rows: int = ROWS,
                size: int = 14) -> Path:  # fmt: skip
    """Paint `text` (screen rows) into a PNG at `path`; returns the path."""
    lines = text.rstrip("\n").split("\n") if text.strip() else []
    lines = [ln.rstrip() for ln in lines]
    font = _font(size)
    cell_w, cell_h = cell_size(size)
    cols = max(columns, *(len(ln) for ln in lines)) if lines else columns
    height_rows = max(rows, len(lines))
    image = Image.new(
        "RGB", (cols * cell_w + 2 * MARGIN, height_rows * cell_h + 2 * MARGIN), BACKGROUND
    )
    pen = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        pen.text((MARGIN, MARGIN + i * cell_h), line, font=font, fill=FOREGROUND)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "PNG")
    return path


def cell_size(size: int = 14) -> tuple[int, int]:
    """(width, height) of one character cell at `size`, as draw_screen lays them out."""
    font = _font(size)
    return max(1, round(font.getlength("M"))), max(font.getbbox("M")[3], size) + 3
