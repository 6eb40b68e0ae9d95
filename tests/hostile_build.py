"""Builders of hostile files for tests/test_hostile_inputs.py, each made in time proportional to its own size.

A bomb that inflates to a GiB is written here as one fixed-Huffman deflate block whose middle is a run of
identical 258-byte back-references: those bytes repeat exactly, so the stream is built by repeating a few
bytes, not by compressing a GiB (zlib would take seconds). ``deflate_periodic`` is checked against zlib by
``test_hostile_inputs.py::test_bomb_builders_match_zlib``.
"""

from __future__ import annotations

import io
import struct
import tarfile
import zlib

import numpy as np

DIST_BASE = (1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
             4097, 6145, 8193, 12289, 16385, 24577)
DIST_EXTRA = (0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13)


class Bits:
    """A deflate bit writer (values LSB first, Huffman codes MSB first) for the fixed-Huffman code."""

    def __init__(self):
        self.acc, self.n, self.out = 0, 0, bytearray()

    def put(self, value, nbits):
        self.acc |= value << self.n
        self.n += nbits
        while self.n >= 8:
            self.out.append(self.acc & 0xFF)
            self.acc >>= 8
            self.n -= 8

    def code(self, code, nbits):
        self.put(int(format(code, f"0{nbits}b")[::-1], 2), nbits)

    def literal(self, byte):
        self.code(0x30 + byte, 8) if byte < 144 else self.code(0x190 + byte - 144, 9)

    def match(self, length, dist):
        """A back-reference of length 258 or 257 at distance ``dist`` (1 .. 32768)."""
        self.code(0xC5, 8) if length == 258 else (self.code(0xC4, 8), self.put(30, 5))  # codes 285 / 284 + 30
        d = max(i for i, b in enumerate(DIST_BASE) if b <= dist)
        self.code(d, 5)
        if DIST_EXTRA[d]:
            self.put(dist - DIST_BASE[d], DIST_EXTRA[d])

    def flush(self):
        if self.n:
            self.put(0, 8 - self.n)
        return bytes(self.out)


def deflate_periodic(head, period, total, tail=b""):
    """A raw deflate stream of ``head``, then the last ``period`` bytes of head repeated up to ``total`` bytes in
    all, then ``tail``. Returns (stream, content_chunks) where content_chunks() yields the inflated bytes."""
    assert 1 <= period <= len(head) <= total and period <= 32768
    extra = DIST_EXTRA[max(i for i, b in enumerate(DIST_BASE) if b <= period)]
    bits, n, pattern = Bits(), len(head), head[-period:]
    bits.put(1, 1)
    bits.put(1, 2)  # BFINAL, fixed Huffman
    for b in head:
        bits.literal(b)
    odd = 258 if (13 + extra) % 2 else 257  # a match of an odd number of bits: it aligns within 8 steps
    while bits.n and total - n >= 2 * 258 * 8:
        bits.match(odd, period)
        n += odd
    unit = Bits()
    for _ in range(8):
        unit.match(258, period)  # 8 matches of 13 + extra bits: exactly 13 + extra bytes, repeated as bytes
    repeats = (total - n) // (258 * 8) - 1 if bits.n == 0 and total - n >= 2 * 258 * 8 else 0
    n += repeats * 258 * 8
    start, end = (bytes(bits.out), Bits()) if repeats else (b"", bits)
    while total - n >= 258:
        end.match(258, period)
        n += 258
    for i in range(n, total):
        end.literal(pattern[(i - len(head)) % period])
    for b in tail:
        end.literal(b)
    end.code(0, 7)
    stream = start + unit.flush() * repeats + end.flush()

    def content_chunks(chunk=2**20):
        yield head
        body, block = total - len(head), pattern * max(1, chunk // period)
        while body > 0:
            piece = block[: min(body, len(block))]
            yield piece
            body -= len(piece)
        yield tail

    return stream, content_chunks


def crc_and_size(chunks):
    crc = size = 0
    for piece in chunks():
        crc, size = zlib.crc32(piece, crc), size + len(piece)
    return crc, size


def gzip_of(stream, chunks):
    """A .gz file around a raw deflate stream whose inflated bytes ``chunks()`` yields (CRC and size right)."""
    crc, size = crc_and_size(chunks)
    return b"\x1f\x8b\x08\x00\0\0\0\0\x00\xff" + stream + struct.pack("<LL", crc, size & 0xFFFFFFFF)


def zip_of(members):
    """A zip of (name, raw deflate stream, crc, inflated size) members (sizes < 4 GiB), written by hand."""
    out, central = io.BytesIO(), io.BytesIO()
    for name, stream, crc, size in members:
        name = name.encode()
        offset = out.tell()
        out.write(struct.pack("<4sHHHHHLLLHH", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(stream), size, len(name), 0))
        out.write(name + stream)
        central.write(struct.pack("<4sHHHHHHLLLHHHHHLL", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(stream), size,
                                  len(name), 0, 0, 0, 0, 0, offset))
        central.write(name)
    cd = central.getvalue()
    out.write(cd + struct.pack("<4sHHHHLLH", b"PK\x05\x06", 0, 0, len(members), len(members), len(cd), out.tell(), 0))
    return out.getvalue()


def npy_header(shape, descr="|u1"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def npy_member(key, shape, descr="|u1", nbytes=None, fill=b"\0"):
    """A zip member ``key``.npy declaring ``shape``, holding ``nbytes`` (default: all declared) ``fill`` bytes."""
    head = npy_header(shape, descr)
    if nbytes is None:
        nbytes = int(np.prod(shape, dtype=object)) * np.dtype(descr).itemsize
    stream, chunks = deflate_periodic(head + fill, 1, len(head) + max(nbytes, 1))
    crc, size = crc_and_size(chunks)
    return f"{key}.npy", stream, crc, size


def npy_bytes(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def small_member(key, arr):
    data = npy_bytes(arr)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return f"{key}.npy", c.compress(data) + c.flush(), zlib.crc32(data), len(data)


def tar_header(name, size=0, kind=tarfile.REGTYPE):
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    return info.tobuf(tarfile.USTAR_FORMAT if kind not in (b"L", b"K", b"x") else tarfile.GNU_FORMAT)


def tar_gz_repeating(block, count, tail=b"\0" * 10240):
    """A .tar.gz whose tar is ``block`` (a multiple of 512 bytes) ``count`` times and then ``tail``."""
    assert len(block) % 512 == 0
    stream, chunks = deflate_periodic(block, len(block), len(block) * count, tail)
    return gzip_of(stream, chunks)


def png_header_only(width, height, color_type=6):
    """A PNG whose header says width x height (8-bit, RGBA by default) with one tiny IDAT: a bomb if decoded."""
    def chunk(kind, data):
        return struct.pack(">L", len(data)) + kind + data + struct.pack(">L", zlib.crc32(kind + data))

    ihdr = struct.pack(">LLBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def png_zeros(width, height, color_type=6):
    """A valid PNG of width x height black (transparent) pixels, compressed without allocating its pixels."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    row = width * channels + 1
    stream, chunks = deflate_periodic(b"\0", 1, row * height)
    adler = 1  # a zlib wrapper around the raw stream: header, stream, Adler-32
    for piece in chunks():
        adler = zlib.adler32(piece, adler)
    idat = b"\x78\x01" + stream + struct.pack(">L", adler)

    def chunk(kind, data):
        return struct.pack(">L", len(data)) + kind + data + struct.pack(">L", zlib.crc32(kind + data))

    ihdr = struct.pack(">LLBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
