"""Turn any picture of a letter into a notMNIST-like 28x28 input.

notMNIST letters are greyscale, a light glyph on a black ground, cropped to
the glyph's ink box and stretched (ignoring aspect ratio) to fill 28x28.
``prepare_letter`` does the same to an uploaded image of any size, colour or
greyscale, dark-on-light or light-on-dark, and returns every step as a small
image so a student can see what the network is given:

1. decode (PNG, JPEG, GIF, BMP or WebP only; the size and aspect ratio are
   read from the header and checked against ``mlp.limits`` first, a JPEG is
   decoded reduced and any other image shrunk by a whole factor at once, so
   the worst accepted file stays cheap; transparency flattened onto a ground
   that contrasts with the ink; phone photos turned upright from EXIF);
2. greyscale;
3. light glyph on dark ground: the ground's brightness is the median of the
   image's border; a light ground means a dark glyph, so the image is inverted;
4. contrast: the ground becomes 0 and the brightest ink 255;
5. crop to the ink box (pixels at least a quarter as bright as the brightest);
6. stretch the box to 28x28 (Lanczos), uint8.

Bad input raises ``mlp.data.DataError`` with a message saying what is wrong:
not an image, an empty or huge file, too many pixels (a decompression bomb)
or too long and thin a strip (each message names its limit), or an image with
no visible letter.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from mlp import limits
from mlp.data import DataError
from mlp.limits import MAX_LETTER_BYTES as MAX_BYTES

SIDE = 28
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
WORK_SIDE = 512  # images are shrunk to at most this (longest side) before processing
PREVIEW_SIDE = 120  # longest side of the step images
BORDER_FRACTION = 0.06  # the ring of the image used to judge its ground
MIN_CONTRAST = 24  # grey levels between ground and ink below which no letter is seen
INK_FRACTION = 0.25  # a pixel is ink if at least this bright, between ground (0) and the brightest ink (1)


@dataclass(frozen=True)
class Step:
    title: str
    image: np.ndarray  # (h, w) or (h, w, 3) uint8, at most PREVIEW_SIDE on its longest side (the last step: 28x28)
    note: str = ""


@dataclass(frozen=True)
class PreparedLetter:
    letter: np.ndarray  # (28, 28) uint8, light glyph on dark ground
    steps: tuple  # Step, in order; the last one is the 28x28 input
    inverted: bool  # the upload was dark on light and was inverted
    box: tuple  # (left, top, right, bottom) of the ink box in the working image
    size: tuple  # (width, height) of the uploaded image

    @property
    def x(self):
        """The network's input row (784,) float32 scaled 0..1, like the data sets' rows."""
        return (self.letter.reshape(-1) / np.float32(255.0)).astype(np.float32)


def _check_header(img, name):
    """(width, height) from the image's header; DataError if its pixel count or aspect ratio is over the limits."""
    width, height = img.size
    if width < 1 or height < 1:
        raise DataError(f"{name}: the image has no pixels.")
    pixels, cap = width * height, limits.MAX_LETTER_PIXELS
    if pixels > cap:
        raise DataError(
            f"{name}: the image is {width:,}x{height:,} = {pixels / 1e6:,.1f} million pixels; at most "
            f"{cap / 1e6:.1f} million are accepted (mlp.limits.MAX_LETTER_PIXELS; it could be a decompression bomb)."
        )
    aspect = max(width, height) / min(width, height)
    if aspect > limits.MAX_LETTER_ASPECT:
        raise DataError(
            f"{name}: the image is {width:,}x{height:,}: its longer side is {aspect:,.0f} times its shorter side; "
            f"at most {limits.MAX_LETTER_ASPECT} is accepted (mlp.limits.MAX_LETTER_ASPECT)."
        )
    return width, height


REDUCIBLE = ("L", "LA", "RGB", "RGBA", "I", "F")  # modes Pillow's reduce() takes


def _reduced(img, side=WORK_SIDE):
    """A loaded image shrunk by a whole factor (Pillow's box reduce) so its longest side is side .. 2 * side."""
    factor = max(img.size) // side
    if factor <= 1:
        return img
    if img.mode not in REDUCIBLE:
        alpha = "A" in img.getbands() or img.mode == "P" and "transparency" in img.info or img.mode in ("La", "RGBa")
        grey = "I" if img.mode.startswith("I;16") else "L" if img.mode == "1" else "RGB"
        img = img.convert("RGBA" if alpha else grey)
    return img.reduce(factor)


def _upright(img, orientation):
    """``img`` turned as its EXIF orientation (1..8) says, so a phone photo stands as it was taken."""
    method = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}.get(orientation)
    return img.transpose(method) if method is not None else img


def _decode(data, name):
    """Bytes -> (a small loaded Pillow image, (width, height) of the file), checked before any pixel is decoded.

    Opened lazily with Pillow's readers of FORMATS only; size and aspect come from the header; a JPEG is
    decoded reduced (draft), other formats are reduced by a whole factor right after decoding.
    """
    if not data:
        raise DataError(f"{name}: the file is empty.")
    if len(data) > MAX_BYTES:
        raise DataError(f"{name}: the file is {len(data) / 2**20:.1f} MB; images up to {MAX_BYTES // 2**20} MB "
                        "are accepted (mlp.limits.MAX_LETTER_BYTES).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own, lower limit is checked next
            img = Image.open(io.BytesIO(data), formats=FORMATS)
            size = _check_header(img, name)
            img.draft(None, (WORK_SIDE, WORK_SIDE))  # JPEG: decode at 1/2, 1/4 or 1/8 of the size
            img.load()
            try:
                orientation = img.getexif().get(0x0112, 1)
            except Exception:  # a broken EXIF block is no reason to refuse the picture
                orientation = 1
            small = _reduced(img)
    except DataError:
        raise
    except Image.DecompressionBombError as exc:
        raise DataError(f"{name}: refused as a possible decompression bomb ({exc}); at most "
                        f"{limits.MAX_LETTER_PIXELS:,} pixels are accepted (mlp.limits.MAX_LETTER_PIXELS).") from None
    except Image.UnidentifiedImageError:
        raise DataError(
            f"{name}: is not an image that can be read; upload a PNG or JPEG (GIF, BMP and WebP also work)."
        ) from None
    except Exception as exc:  # truncated or corrupt files raise many kinds
        raise DataError(f"{name}: the image is damaged or truncated ({type(exc).__name__}: {exc}).") from None
    return _upright(small, orientation), size


def _to_grey(img):
    """A loaded Pillow image of any mode -> (h, w) float64 greyscale 0..255, transparency flattened."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(img, np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        return np.clip(arr * (255.0 / top), 0, 255)
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if not has_alpha:
        return np.asarray(img.convert("L"), np.float64)
    rgba = np.asarray(img.convert("RGBA"), np.float64)
    grey = np.asarray(img.convert("RGBA").convert("L"), np.float64)
    alpha = rgba[..., 3] / 255.0
    if alpha.min() >= 1.0:
        return grey
    # Flatten onto a ground that contrasts with what is drawn: the opaque pixels' mean brightness decides.
    weight = alpha.sum()
    ink = float((grey * alpha).sum() / weight) if weight > 0 else 0.0
    ground = 255.0 if ink < 128 else 0.0
    return grey * alpha + ground * (1.0 - alpha)


def _shrink(grey, side=WORK_SIDE):
    h, w = grey.shape
    if max(h, w) <= side:
        return grey
    f = side / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return np.asarray(Image.fromarray(grey.astype(np.float32), "F").resize(size, Image.Resampling.BOX), np.float64)


def _preview(arr, side=PREVIEW_SIDE):
    """A small uint8 copy of an image (h, w) or (h, w, 3) for display, longest side at most ``side``."""
    arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    img = Image.fromarray(arr)
    if max(img.size) > side:
        img.thumbnail((side, side), Image.Resampling.LANCZOS)
    return np.asarray(img)


def border_level(grey, fraction=BORDER_FRACTION):
    """Median brightness of the ring of the image within ``fraction`` of its size from the edges (at least 1 px)."""
    h, w = grey.shape
    bh, bw = max(1, round(h * fraction)), max(1, round(w * fraction))
    ring = np.concatenate([grey[:bh].ravel(), grey[-bh:].ravel(), grey[:, :bw].ravel(), grey[:, -bw:].ravel()])
    return float(np.median(ring))


def ink_box(level, threshold=INK_FRACTION):
    """(left, top, right, bottom) (right/bottom exclusive) of the pixels of ``level`` (0..1) >= threshold, or None."""
    ink = level >= threshold
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if len(rows) == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def prepare_letter(data, name="upload"):
    """Bytes of an image file -> PreparedLetter (28x28 uint8 notMNIST-like input and the steps); DataError if not."""
    data = bytes(data) if not isinstance(data, bytes) else data
    img, size = _decode(data, name)
    original = img.convert("RGBA") if "A" in img.getbands() or img.mode == "P" else img.convert("RGB")
    if original.mode == "RGBA":  # show transparency on a checker-free light grey
        shown = Image.new("RGB", original.size, (200, 200, 200))
        shown.paste(original, mask=original.getchannel("A"))
        original = shown
    steps = [Step("Your image", _preview(np.asarray(original)), f"{size[0]}x{size[1]} pixels")]

    grey = _shrink(_to_grey(img))
    steps.append(Step("Greyscale", _preview(grey)))

    ground = border_level(grey)
    inverted = ground > 127.5
    light = 255.0 - grey if inverted else grey
    ground = 255.0 - ground if inverted else ground
    note = "inverted: it was dark on light" if inverted else "already light on dark"
    steps.append(Step("Light on dark", _preview(light), note))

    peak = float(np.percentile(light, 99.9))
    if peak - ground < MIN_CONTRAST:
        raise DataError(f"{name}: no letter found: the image is almost uniform "
                        f"(contrast {peak - ground:.0f} of 255 grey levels).")
    level = np.clip((light - ground) / (peak - ground), 0.0, 1.0)
    steps.append(Step("Contrast", _preview(level * 255.0), "ground to black, ink to white"))

    box = ink_box(level)
    if box is None:  # cannot happen once peak > ground, kept for safety
        raise DataError(f"{name}: no letter found in the image.")
    left, top, right, bottom = box
    marked = Image.fromarray(np.clip(np.rint(level * 255.0), 0, 255).astype(np.uint8)).convert("RGB")
    ImageDraw.Draw(marked).rectangle([left, top, right - 1, bottom - 1], outline=(255, 80, 40),
                                     width=max(1, max(marked.size) // 100))
    steps.append(Step("Ink box", _preview(np.asarray(marked)), f"{right - left}x{bottom - top} pixels"))

    crop = Image.fromarray((level[top:bottom, left:right] * 255.0).astype(np.float32), "F")
    small = np.asarray(crop.resize((SIDE, SIDE), Image.Resampling.LANCZOS), np.float64)
    letter = np.clip(np.rint(small), 0, 255).astype(np.uint8)
    steps.append(Step("28x28 input", letter, "stretched to fill the box"))
    return PreparedLetter(letter, tuple(steps), inverted, box, size)
