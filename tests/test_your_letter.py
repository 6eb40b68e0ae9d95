"""lab.your_letter: any picture of a letter -> a notMNIST-like 28x28 input, and clear refusals."""

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from lab import your_letter as yl
from mlp.data import DataError


def render(ch="A", size=(300, 220), fg=0, bg=255, mode="L", fmt="PNG", at=(70, 15), font_size=160):
    img = Image.new(mode, size, bg)
    ImageDraw.Draw(img).text(at, ch, fill=fg, font=ImageFont.load_default(size=font_size))
    return encode(img, fmt)


def encode(img, fmt="PNG", **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def corr(a, b):
    a, b = a.astype(float).ravel(), b.astype(float).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def test_light_on_dark_output_fills_the_box():
    p = yl.prepare_letter(render("A", fg=255, bg=0), "a.png")
    assert p.letter.shape == (28, 28) and p.letter.dtype == np.uint8
    assert not p.inverted
    assert p.letter.max() >= 200
    # cropped to the ink and stretched: ink touches every side of the 28x28 box
    ink = p.letter > 64
    assert ink[0].any() and ink[-1].any() and ink[:, 0].any() and ink[:, -1].any()
    assert p.x.shape == (784,) and p.x.dtype == np.float32 and 0 <= p.x.min() and p.x.max() <= 1
    assert p.steps[-1].image.shape == (28, 28)
    assert [s.title for s in p.steps][0] == "Your image"
    assert all(max(s.image.shape[:2]) <= yl.PREVIEW_SIDE for s in p.steps)


def test_dark_on_light_is_inverted_to_the_same_input():
    light = yl.prepare_letter(render("C", fg=255, bg=0), "c1.png")
    dark = yl.prepare_letter(render("C", fg=0, bg=255), "c2.png")
    assert dark.inverted and not light.inverted
    assert np.abs(light.letter.astype(int) - dark.letter.astype(int)).max() <= 2
    assert dark.letter[0, 0] < 40  # the ground is dark after inversion


def test_colour_jpeg_on_grey_paper():
    img = Image.new("RGB", (640, 480), (225, 220, 200))
    ImageDraw.Draw(img).text((200, 60), "E", fill=(20, 30, 140), font=ImageFont.load_default(size=340))
    p = yl.prepare_letter(encode(img, "JPEG", quality=85), "e.jpg")
    ref = yl.prepare_letter(render("E", fg=255, bg=0), "e.png")
    assert p.inverted and p.size == (640, 480)
    assert corr(p.letter, ref.letter) > 0.9
    assert p.steps[0].image.ndim == 3  # the original is shown in colour


def test_position_and_size_do_not_matter():
    a = yl.prepare_letter(render("B", size=(300, 220), at=(70, 15)), "b1.png")
    b = yl.prepare_letter(render("B", size=(1200, 500), at=(900, 300), font_size=120), "b2.png")
    assert corr(a.letter, b.letter) > 0.9


def test_aspect_ratio_is_ignored_like_notmnist():
    img = Image.new("L", (400, 400), 0)
    ImageDraw.Draw(img).rectangle([180, 40, 219, 359], fill=255)  # a tall bar 40 x 320
    p = yl.prepare_letter(encode(img), "bar.png")
    assert p.letter.min() >= 250  # stretched to fill all of the 28x28 box
    assert p.box == (180, 40, 220, 360)


def test_transparent_png_with_dark_glyph():
    img = Image.new("RGBA", (300, 220), (0, 0, 0, 0))  # transparent *black*: convert("L") alone would lose the glyph
    ImageDraw.Draw(img).text((70, 15), "D", fill=(0, 0, 0, 255), font=ImageFont.load_default(size=160))
    p = yl.prepare_letter(encode(img), "d.png")
    ref = yl.prepare_letter(render("D", fg=255, bg=0), "d2.png")
    assert corr(p.letter, ref.letter) > 0.95


def test_palette_gif_and_16_bit_png():
    gif = Image.open(io.BytesIO(render("F", mode="L"))).convert("P")
    p = yl.prepare_letter(encode(gif, "GIF"), "f.gif")
    ref = yl.prepare_letter(render("F", fg=255, bg=0), "f.png")
    assert corr(p.letter, ref.letter) > 0.95
    arr = np.asarray(Image.open(io.BytesIO(render("F", fg=255, bg=0))), np.uint16) * 257
    deep = Image.fromarray(arr)
    assert deep.mode.startswith("I")
    q = yl.prepare_letter(encode(deep), "f16.png")
    assert corr(q.letter, ref.letter) > 0.95


def test_big_image_is_shrunk_before_work():
    p = yl.prepare_letter(render("J", size=(3000, 2000), at=(1000, 300), font_size=1200), "j.png")
    assert p.size == (3000, 2000) and p.letter.max() > 200
    assert max(p.steps[0].image.shape[:2]) <= yl.PREVIEW_SIDE


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"hello, this is a text file\n" * 10, "not an image"),
        (b"%PDF-1.4 not an image", "not an image"),
    ],
)
def test_refusals(data, message):
    with pytest.raises(DataError, match=message):
        yl.prepare_letter(data, "x.png")


def test_truncated_png_is_refused():
    data = render("A")
    with pytest.raises(DataError, match="damaged or truncated"):
        yl.prepare_letter(data[: len(data) // 2], "cut.png")


def test_huge_file_is_refused_before_decoding(monkeypatch):
    monkeypatch.setattr(yl, "MAX_BYTES", 1000)
    with pytest.raises(DataError, match="MB"):
        yl.prepare_letter(render("A", size=(800, 800)) + b"\0" * 1000, "big.png")


def test_decompression_bomb_is_refused():
    bomb = encode(Image.new("1", (8000, 8000), 0))  # 64 million pixels in a few kB
    assert len(bomb) < 100_000
    with pytest.raises(DataError, match="decompression bomb"):
        yl.prepare_letter(bomb, "bomb.png")


def test_blank_image_has_no_letter():
    with pytest.raises(DataError, match="no letter"):
        yl.prepare_letter(encode(Image.new("RGB", (200, 200), (240, 240, 240))), "blank.png")


def test_border_level_and_ink_box():
    g = np.zeros((50, 40))
    g[10:20, 5:9] = 1.0
    assert yl.border_level(g) == 0.0
    assert yl.ink_box(g) == (5, 10, 9, 20)
    assert yl.ink_box(np.zeros((5, 5))) is None


def test_deep_greyscale_modes_are_scaled_not_clipped():
    ramp = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.int32)  # 0..65520, a 16-bit range in mode "I"
    grey = yl._to_grey(Image.fromarray(ramp, "I"))
    assert grey.max() == pytest.approx(65520 * 255 / 65535) and grey.min() == 0
    assert np.all(np.diff(grey.ravel()) >= 0)  # still a ramp, not clipped to white
    small = yl._to_grey(Image.fromarray(np.full((8, 8), 200, np.int32), "I"))  # 8-bit values stay as they are
    assert np.all(small == 200)


def test_pixel_and_aspect_limits_are_read_from_the_header(monkeypatch):
    from mlp import limits

    monkeypatch.setattr(limits, "MAX_LETTER_PIXELS", 100 * 100)
    with pytest.raises(DataError, match=r"200x100 = 0.0 million pixels; at most 0.0 million .*MAX_LETTER_PIXELS"):
        yl.prepare_letter(render("A", size=(200, 100)), "wide.png")
    monkeypatch.setattr(limits, "MAX_LETTER_PIXELS", 4000 * 3000)
    with pytest.raises(DataError, match=r"1,200x20: its longer side is 60 times its shorter side; at most 50 .*ASPECT"):
        yl.prepare_letter(render("A", size=(1200, 20), font_size=10, at=(0, 0)), "strip.png")


def test_exif_orientation_is_applied_to_the_reduced_image():
    img = Image.new("RGB", (2400, 1200), (255, 255, 255))
    ImageDraw.Draw(img).text((900, 100), "L", fill=(0, 0, 0), font=ImageFont.load_default(size=900))
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: show it rotated 90 degrees clockwise
    turned = yl.prepare_letter(encode(img, "JPEG", quality=90, exif=exif), "l.jpg")
    plain = yl.prepare_letter(encode(img.transpose(Image.Transpose.ROTATE_270), "JPEG", quality=90), "l2.jpg")
    assert turned.size == (2400, 1200)  # the file's own size
    h, w = turned.steps[0].image.shape[:2]
    assert h > w  # upright: portrait
    assert corr(turned.letter, plain.letter) > 0.9


def test_big_png_is_reduced_before_conversion():
    """A 4000x3000 palette PNG: decoded, reduced by a whole factor (7), then converted: the steps stay small."""
    img = Image.open(io.BytesIO(render("G", size=(4000, 3000), at=(1200, 200), font_size=2400))).convert("P")
    small = yl._reduced(img)
    assert max(small.size) >= yl.WORK_SIDE and max(small.size) < 2 * yl.WORK_SIDE and small.mode in yl.REDUCIBLE
    p = yl.prepare_letter(encode(img), "g.png")
    ref = yl.prepare_letter(render("G", fg=255, bg=0), "g2.png")
    assert p.size == (4000, 3000) and corr(p.letter, ref.letter) > 0.9
