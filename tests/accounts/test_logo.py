"""Logos are checked by what the bytes are, not what the name says, and have a pixel cap:
a small file can declare an image big enough to exhaust a worker's memory when decoded."""

import io
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from .test_settings_org import _form

URL = "/settings/"


def image_bytes(fmt: str, size=(40, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "#1f6f5c").save(buffer, fmt)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG whose header claims ``width`` × ``height`` pixels."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    rows = zlib.compress(b"\0" * 64, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", rows)
        + _chunk(b"IEND", b"")
    )


def upload(owner_client, org, name: str, content: bytes, content_type="image/png"):
    logo = SimpleUploadedFile(name, content, content_type=content_type)
    return owner_client.post(URL, {**_form(org), "logo": logo})


@pytest.mark.parametrize(("fmt", "ext"), [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp")])
def test_it_accepts_png_jpeg_and_webp(owner_client, org, fmt, ext):
    response = upload(owner_client, org, f"logo.{ext}", image_bytes(fmt))
    assert response.status_code == 302
    org.refresh_from_db()
    assert org.logo.name.endswith(f".{ext}")


def test_it_names_and_serves_a_logo_by_what_it_really_is(owner_client, org):
    # A PNG uploaded under a .jpg name is stored (and so served) as the PNG it is.
    response = upload(owner_client, org, "logo.jpg", image_bytes("PNG"), content_type="image/jpeg")
    assert response.status_code == 302
    org.refresh_from_db()
    assert org.logo.name.endswith(".png")
    assert owner_client.get(org.logo.url)["Content-Type"] == "image/png"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("logo.gif", image_bytes("GIF")),
        ("logo.png", image_bytes("GIF")),
        ("logo.png", image_bytes("BMP")),
        ("logo.png", image_bytes("TIFF")),
    ],
    ids=["gif", "gif-named-png", "bmp-named-png", "tiff-named-png"],
)
def test_it_refuses_other_image_types_whatever_their_name(owner_client, org, name, content):
    response = upload(owner_client, org, name, content)
    assert response.status_code == 200
    assert "Use a PNG, JPEG or WebP image for the logo." in response.content.decode()
    org.refresh_from_db()
    assert not org.logo


def test_it_refuses_an_svg_even_named_png(owner_client, org):
    svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"
    response = upload(owner_client, org, "logo.png", svg, content_type="image/svg+xml")
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
    org.refresh_from_db()
    assert not org.logo


@pytest.mark.parametrize("size", [(4097, 10), (10, 4097)])
def test_it_refuses_a_logo_over_the_pixel_cap(owner_client, org, size):
    response = upload(owner_client, org, "wide.png", image_bytes("PNG", size))
    assert response.status_code == 200
    assert "4096 × 4096 pixels" in response.content.decode()
    org.refresh_from_db()
    assert not org.logo


def test_it_accepts_a_logo_at_the_pixel_cap(owner_client, org):
    response = upload(owner_client, org, "edge.png", png_declaring(4096, 1))
    assert response.status_code in (200, 302)
    assert "4096 × 4096 pixels" not in response.content.decode()


@pytest.mark.parametrize(
    "size", [(100_000, 100_000), (30_000, 30_000), (10_000, 10_000), (9_000, 9_000)]
)
def test_it_refuses_a_decompression_bomb_with_a_clear_message(owner_client, org, size):
    bomb = png_declaring(*size)
    assert len(bomb) < 1000  # tiny on the wire, gigapixels when decoded
    response = upload(owner_client, org, "bomb.png", bomb)
    assert response.status_code == 200
    assert "4096 × 4096 pixels" in response.content.decode()
    org.refresh_from_db()
    assert not org.logo
