"""TensorBoard event files, written and read without the tensorboard or tensorflow packages.

File: a sequence of TFRecords, each
``uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)``
(little-endian), where masked_crc(x) = ((crc >> 15) | (crc << 17)) + 0xA282EAD8 mod 2^32 and CRC-32C
is the Castagnoli CRC (reflected polynomial 0x82F63B78). Each record's data is a protobuf
``Event``; the subset written here:

    Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
    Summary { repeated Value value = 1; }
    Value   { string tag = 1; float simple_value = 2; Image image = 4; }
    Image   { int32 height = 1; int32 width = 2; int32 colorspace = 3;
              bytes encoded_image_string = 4; }

The first record of a file is ``Event{wall_time, file_version: "brain.Event:2"}``.
"""

from __future__ import annotations

import math
import os
import socket
import struct
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import numpy as np
import torch

from fastgan.utils.images import encode_png, to_uint8_image

__all__ = ["EventWriter", "crc32c", "masked_crc32c", "read_events"]

FILE_VERSION = "brain.Event:2"
_CRC32C_POLYNOMIAL = 0x82F63B78  # Castagnoli, bit-reversed
_CRC_MASK_DELTA = 0xA282EAD8
_UINT32 = 0xFFFFFFFF
_UINT64 = 0xFFFFFFFFFFFFFFFF

# Protobuf wire types.
_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC32C_POLYNOMIAL if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of `data`, continuing from `crc` (the CRC of the bytes before)."""
    crc ^= _UINT32
    table = _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ _UINT32


def masked_crc32c(data: bytes) -> int:
    """The TFRecord checksum: CRC-32C rotated right by 15 bits plus 0xA282EAD8, mod 2^32."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & _UINT32


# --- protobuf encoding -------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    value &= _UINT64  # negative int64 values are encoded as their two's complement (10 bytes)
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint((field << 3) | wire_type)


def _varint_field(field: int, value: int) -> bytes:
    return _key(field, _VARINT) + _varint(value)


def _bytes_field(field: int, value: bytes) -> bytes:
    return _key(field, _LENGTH_DELIMITED) + _varint(len(value)) + value


def _double_field(field: int, value: float) -> bytes:
    return _key(field, _FIXED64) + struct.pack("<d", value)


def _float_field(field: int, value: float) -> bytes:
    try:
        packed = struct.pack("<f", value)
    except OverflowError:  # beyond float32's range: what a float32 cast gives
        packed = struct.pack("<f", math.copysign(math.inf, value))
    return _key(field, _FIXED32) + packed


def _record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


# --- protobuf decoding -------------------------------------------------------------------------


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise ValueError("varint longer than 10 bytes")


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) of every field of one message; values of length-delimited
    fields are bytes, of fixed-width fields the raw little-endian bytes."""
    fields = []
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        field, wire_type = key >> 3, key & 7
        if wire_type == _VARINT:
            value, pos = _read_varint(data, pos)
        elif wire_type in (_FIXED64, _FIXED32):
            size = 8 if wire_type == _FIXED64 else 4
            value, pos = data[pos : pos + size], pos + size
        elif wire_type == _LENGTH_DELIMITED:
            size, pos = _read_varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type} in field {field}")
        if pos > len(data):
            raise ValueError(f"field {field} runs past the end of its message")
        fields.append((field, wire_type, value))
    return fields


def _decode_image(data: bytes) -> tuple[int, int, bytes]:
    height = width = 0
    encoded = b""
    for field, wire_type, value in _fields(data):
        if field == 1 and wire_type == _VARINT:
            height = value
        elif field == 2 and wire_type == _VARINT:
            width = value
        elif field == 4 and wire_type == _LENGTH_DELIMITED:
            encoded = bytes(value)
    return height, width, encoded


def _decode_event(data: bytes) -> dict[str, Any]:
    event: dict[str, Any] = {
        "wall_time": 0.0,
        "step": 0,
        "file_version": None,
        "scalars": {},
        "images": {},
    }
    for field, wire_type, value in _fields(data):
        if field == 1 and wire_type == _FIXED64:
            event["wall_time"] = struct.unpack("<d", value)[0]
        elif field == 2 and wire_type == _VARINT:
            event["step"] = value - (1 << 64) if value >= 1 << 63 else value
        elif field == 3 and wire_type == _LENGTH_DELIMITED:
            event["file_version"] = bytes(value).decode("utf-8")
        elif field == 5 and wire_type == _LENGTH_DELIMITED:
            for summary_field, summary_wire_type, value_data in _fields(value):
                if summary_field != 1 or summary_wire_type != _LENGTH_DELIMITED:
                    continue
                tag, scalar, image = "", None, None
                for value_field, value_wire_type, item in _fields(value_data):
                    if value_field == 1 and value_wire_type == _LENGTH_DELIMITED:
                        tag = bytes(item).decode("utf-8")
                    elif value_field == 2 and value_wire_type == _FIXED32:
                        scalar = struct.unpack("<f", item)[0]
                    elif value_field == 4 and value_wire_type == _LENGTH_DELIMITED:
                        image = _decode_image(item)
                if scalar is not None:
                    event["scalars"][tag] = scalar
                if image is not None:
                    event["images"][tag] = image
    return event


def read_events(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Parse a TensorBoard event file into one dict per event, in file order:
    ``{"wall_time": float, "step": int, "file_version": str | None,
    "scalars": {tag: float}, "images": {tag: (height, width, png_bytes)}}``.

    Both CRCs of every record are verified; a corrupt or truncated record raises a ValueError
    naming the file and the record's byte offset. Summary values other than simple_value and
    image (histograms, tensors, ...) are skipped.
    """
    path = os.fspath(path)
    with open(path, "rb") as file:
        content = file.read()
    events = []
    pos = 0
    while pos < len(content):
        header = content[pos : pos + 12]
        if len(header) < 12:
            raise ValueError(f"{path}: truncated record header at byte {pos}")
        length_bytes = header[:8]
        if struct.unpack("<I", header[8:])[0] != masked_crc32c(length_bytes):
            raise ValueError(f"{path}: corrupt record at byte {pos}: the length's CRC mismatches")
        (length,) = struct.unpack("<Q", length_bytes)
        end = pos + 12 + length + 4
        if end > len(content):
            raise ValueError(
                f"{path}: truncated record at byte {pos}: {length} data bytes announced, "
                f"{max(len(content) - pos - 16, 0)} present"
            )
        data = content[pos + 12 : end - 4]
        if struct.unpack("<I", content[end - 4 : end])[0] != masked_crc32c(data):
            raise ValueError(f"{path}: corrupt record at byte {pos}: the data's CRC mismatches")
        try:
            events.append(_decode_event(data))
        except (ValueError, UnicodeDecodeError) as error:
            raise ValueError(
                f"{path}: record at byte {pos} is not a valid Event: {error}"
            ) from None
        pos = end
    return events


# --- writer ------------------------------------------------------------------------------------


def _check_tag(tag: object) -> str:
    if not isinstance(tag, str) or not tag:
        raise ValueError(f"tag: expected a non-empty str, got {tag!r}")
    return tag


def _check_step(step: object) -> int:
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
        raise TypeError(f"step: expected an int, got {type(step).__name__} {step!r}")
    return int(step)


def _scalar_message(tag: object, value: object) -> bytes:
    """A Summary.Value{tag, simple_value}."""
    tag = _check_tag(tag)
    return _bytes_field(1, tag.encode("utf-8")) + _float_field(2, _scalar_value(tag, value))


def _scalar_value(tag: str, value: object) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"value of {tag!r}: expected a number or a one-element tensor, got a tensor of "
                f"shape {tuple(value.shape)}"
            )
        return float(value.item())
    if isinstance(value, np.ndarray) and value.size == 1:
        return float(value.item())
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    raise TypeError(f"value of {tag!r}: expected a number, got {type(value).__name__}")


class EventWriter:
    """Writes scalars and images to a new TensorBoard event file in `logdir` (created if needed),
    named ``events.out.tfevents.<unix time>.<host>.<pid>.fastgan``.

    Records are buffered and reach the disk on `flush`, `close`, and after any add once
    `flush_secs` (default 10) have passed since the last flush. Use as a context manager, or call
    `close`. Only one process should write to one file; in a multi-process run, only rank 0
    logs.
    """

    def __init__(self, logdir: str | os.PathLike[str], flush_secs: float = 10.0) -> None:
        if not isinstance(flush_secs, (int, float)) or not flush_secs >= 0:
            raise ValueError(f"flush_secs: expected a number >= 0, got {flush_secs!r}")
        self.logdir = os.fspath(logdir)
        os.makedirs(self.logdir, exist_ok=True)
        now = time.time()
        base = os.path.join(
            self.logdir,
            f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}.fastgan",
        )
        # Two writers opened by one process within one second would share a name: number them.
        self.path = base
        for attempt in range(1, 1000):
            try:
                self._file = open(self.path, "xb")
                break
            except FileExistsError:
                self.path = f"{base}.{attempt}"
        else:
            raise FileExistsError(f"EventWriter: no free event file name in {self.logdir!r}")
        self.flush_secs = float(flush_secs)
        self._last_flush = time.monotonic()
        self._file.write(
            _record(_double_field(1, now) + _bytes_field(3, FILE_VERSION.encode("ascii")))
        )
        self.flush()

    @property
    def closed(self) -> bool:
        """Whether `close` was called."""
        return self._file.closed

    def _write_summary(self, values: list[bytes], step: int) -> None:
        if self._file.closed:
            raise ValueError(f"EventWriter: {self.path!r} is closed")
        summary = b"".join(_bytes_field(1, value) for value in values)
        event = _double_field(1, time.time()) + _varint_field(2, step) + _bytes_field(5, summary)
        self._file.write(_record(event))
        if time.monotonic() - self._last_flush >= self.flush_secs:
            self.flush()

    def add_scalar(self, tag: str, value: float | torch.Tensor, step: int) -> None:
        """Log one number (a Python/numpy number or a one-element tensor) under `tag` at `step`.
        Stored as float32, as TensorBoard's simple_value is."""
        self._write_summary([_scalar_message(tag, value)], _check_step(step))

    def add_scalars(self, scalars: Mapping[str, float | torch.Tensor], step: int) -> None:
        """Log several numbers {tag: value} at `step`, in one event."""
        if not isinstance(scalars, Mapping):
            raise TypeError(
                f"scalars: expected a mapping tag -> number, got {type(scalars).__name__}"
            )
        values = [_scalar_message(tag, value) for tag, value in scalars.items()]
        if values:
            self._write_summary(values, _check_step(step))

    def add_image(self, tag: str, image: np.ndarray | torch.Tensor, step: int) -> None:
        """Log one image under `tag` at `step`, PNG-encoded: a uint8 numpy array [H, W, C]
        (or [H, W]; C in 1, 3, 4) or a float tensor [C, H, W] in [-1, 1] (C in 1, 3)."""
        tag = _check_tag(tag)
        step = _check_step(step)
        pixels = to_uint8_image(image)
        height, width, channels = pixels.shape
        message = (
            _varint_field(1, height)
            + _varint_field(2, width)
            + _varint_field(3, channels)
            + _bytes_field(4, encode_png(pixels))
        )
        self._write_summary([_bytes_field(1, tag.encode("utf-8")) + _bytes_field(4, message)], step)

    def flush(self) -> None:
        """Hand the buffered records to the operating system, where TensorBoard can read them."""
        if not self._file.closed:
            self._file.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Flush and close the file; later adds raise ValueError. Calling it again does nothing."""
        if not self._file.closed:
            self._file.flush()
            self._file.close()

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EventWriter({self.path!r})"
