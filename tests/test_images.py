"""One image decoder for the whole workflow: EXIF orientation applied, high bit depths scaled to 8 bits."""

import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from air_core.data.images import open_rgb
from air_core.data.readers import image_problem
from air_core.encode import encode_images

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 64, 48


def _ramp() -> np.ndarray:
    """A 2-D gradient in [0, 1], (H, W): every grey level, no flat image that hides a scaling bug."""
    x, y = np.meshgrid(np.linspace(0, 1, WIDTH), np.linspace(0, 1, HEIGHT))
    return 0.75 * x + 0.25 * y


def _eight_bit(ramp: np.ndarray) -> np.ndarray:
    return np.rint(ramp * 255).astype(np.uint8)


def _sixteen_bit(ramp: np.ndarray) -> np.ndarray:
    return np.rint(ramp * 65535).astype(np.uint16)


def _png_rgb16(pixels: np.ndarray) -> bytes:
    """A 16-bit RGB PNG (colour type 2, depth 16), written by hand: PIL cannot write one."""
    height, width, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[row].astype(">u2").tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _save(image: Image.Image, path: Path, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


def _grey(path: Path) -> np.ndarray:
    rgb = np.asarray(open_rgb(path))
    assert rgb.dtype == np.uint8 and rgb.shape == (HEIGHT, WIDTH, 3)
    assert (rgb == rgb[..., :1]).all()  # grey in, grey out
    return rgb[..., 0].astype(int)


# ---------------------------------------------------------------- bit depths


def test_a_16_bit_png_gives_the_features_of_its_8_bit_version(tmp_path, tiny_clip):
    ramp = _ramp()
    sixteen = _save(Image.fromarray(_sixteen_bit(ramp)), tmp_path / "g16.png")
    eight = _save(Image.fromarray(_eight_bit(ramp)), tmp_path / "g8.png")
    white = _save(Image.new("L", (WIDTH, HEIGHT), 255), tmp_path / "white.png")  # what convert("RGB") made of it
    assert Image.open(sixteen).mode == "I;16"
    assert np.abs(_grey(sixteen) - _grey(eight)).max() <= 1  # scaled, up to the rounding of two quantisations

    f16, f8, fwhite = encode_images(tiny_clip, [str(sixteen), str(eight), str(white)])
    np.testing.assert_allclose(f16, f8, atol=2e-3)
    assert np.abs(f16 - f8).max() < 0.05 * np.abs(f8 - fwhite).max()  # nowhere near the clipped white square


@pytest.mark.parametrize(
    "mode, values, suffix",
    [
        ("I;16", _sixteen_bit, ".png"),
        ("I;16B", lambda r: _sixteen_bit(r).astype(">u2"), ".tif"),  # big-endian 16-bit TIFF
        ("I", lambda r: _sixteen_bit(r).astype(np.int32), ".tif"),  # 16-bit data in Pillow's 32-bit mode
        ("F", lambda r: r.astype(np.float32), ".tif"),  # floats in 0..1
        ("F", lambda r: (r * 1000 - 500).astype(np.float32), ".tif"),  # any other range: its own min..max
        ("I", lambda r: (r * 200_000 - 100_000).astype(np.int32), ".tif"),
    ],
)
def test_high_bit_depth_modes_are_scaled_not_clipped(tmp_path, mode, values, suffix):
    data = values(_ramp())
    image = Image.frombytes(mode, (WIDTH, HEIGHT), data.tobytes()) if mode == "I;16B" else Image.fromarray(data)
    path = _save(image, tmp_path / f"g{suffix}")
    assert Image.open(path).mode == mode
    grey = _grey(path)
    assert grey.min() == 0 and grey.max() == 255
    assert np.abs(grey - _eight_bit(_ramp())).max() <= 1


def test_a_16_bit_rgb_png_keeps_its_colours(tmp_path):
    ramp = _ramp()
    pixels = np.stack([_sixteen_bit(ramp), _sixteen_bit(1 - ramp), np.full_like(_sixteen_bit(ramp), 32768)], -1)
    path = tmp_path / "rgb16.png"
    path.write_bytes(_png_rgb16(pixels))
    rgb = np.asarray(open_rgb(path)).astype(int)
    expected = np.stack([_eight_bit(ramp), _eight_bit(1 - ramp), np.full_like(_eight_bit(ramp), 128)], -1)
    assert np.abs(rgb - expected).max() <= 1


@pytest.mark.parametrize("mode", ["1", "L", "P", "LA", "RGBA", "CMYK", "RGB"])
def test_8_bit_modes_convert_as_pil_does(tmp_path, mode):
    source = Image.fromarray(np.stack([_eight_bit(_ramp())] * 3, -1)).convert(mode)
    path = _save(source, tmp_path / ("x.tif" if mode == "CMYK" else "x.png"))
    assert np.array_equal(np.asarray(open_rgb(path)), np.asarray(Image.open(path).convert("RGB")))


# ---------------------------------------------------------------- EXIF orientation


def _quadrants() -> Image.Image:
    """A 64x48 image whose corners differ: red top-left, green top-right, blue bottom-left, white bottom-right."""
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[: HEIGHT // 2, : WIDTH // 2] = (255, 0, 0)
    image[: HEIGHT // 2, WIDTH // 2 :] = (0, 255, 0)
    image[HEIGHT // 2 :, : WIDTH // 2] = (0, 0, 255)
    image[HEIGHT // 2 :, WIDTH // 2 :] = (255, 255, 255)
    return Image.fromarray(image)


@pytest.mark.parametrize(
    "orientation, turn",
    [
        (1, None),
        (3, Image.Transpose.ROTATE_180),
        (6, Image.Transpose.ROTATE_270),  # the camera was turned right: show it rotated 90° clockwise
        (8, Image.Transpose.ROTATE_90),
    ],
)
def test_an_exif_rotated_jpeg_decodes_to_the_rotated_pixels(tmp_path, orientation, turn):
    stored = _quadrants()
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = _save(stored, tmp_path / "photo.jpg", quality=95, exif=exif.tobytes())
    assert Image.open(path).getexif()[0x0112] == orientation
    upright = np.asarray(stored if turn is None else stored.transpose(turn)).astype(int)
    decoded = np.asarray(open_rgb(path)).astype(int)
    assert decoded.shape == upright.shape
    assert np.abs(decoded - upright).mean() < 4  # JPEG blurs the edges between the quadrants, nothing more
    assert image_problem(path) is None


def test_the_readability_check_accepts_what_the_decoder_reads(tmp_path):
    path = _save(Image.fromarray(_sixteen_bit(_ramp())), tmp_path / "g16.png")
    assert image_problem(path) is None


# ---------------------------------------------------------------- one decoder


def test_no_module_decodes_images_its_own_way():
    """Every pixel reader goes through air_core.data.images; only the readability check opens files itself."""
    allowed = {ROOT / "air_core" / "data" / "images.py", ROOT / "air_core" / "data" / "readers.py"}
    offenders = []
    for path in sorted((ROOT / "air_core").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if path not in allowed and re.search(r"Image\.open\(|\.convert\(\s*[\"']RGB[\"']\s*\)", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == [], f"decode with air_core.data.images.open_rgb instead: {offenders}"
