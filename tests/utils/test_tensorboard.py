"""EventWriter / read_events: CRC-32C, TFRecord framing, the protobuf bytes, round trips, errors."""

import io
import os
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from fastgan.utils.tensorboard import EventWriter, crc32c, masked_crc32c, read_events


def _event_file(logdir) -> str:
    (name,) = os.listdir(logdir)
    return os.path.join(logdir, name)


def test_crc32c_known_vectors():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(b"") == 0
    # Continuing from the CRC of a prefix gives the CRC of the whole.
    assert crc32c(b"56789", crc32c(b"1234")) == 0xE3069283


def test_masked_crc32c_is_the_rotated_crc_plus_delta():
    crc = 0xE3069283
    assert masked_crc32c(b"123456789") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) % 2**32


def test_file_name_and_first_record_is_the_file_version_event(tmp_path):
    with EventWriter(tmp_path / "logs") as writer:
        writer.add_scalar("loss", 1.0, 0)
    path = _event_file(tmp_path / "logs")
    assert path == writer.path
    name = os.path.basename(path)
    assert name.startswith("events.out.tfevents.") and name.endswith(f".{os.getpid()}.fastgan")
    data = open(path, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    # Event{wall_time: double (key 0x09), file_version: "brain.Event:2" (key 0x1a, length 13)}
    assert length == 1 + 8 + 2 + 13
    payload = data[12 : 12 + length]
    assert payload[0] == 0x09 and payload[9:] == b"\x1a\x0dbrain.Event:2"
    assert struct.unpack("<I", data[8:12])[0] == masked_crc32c(data[:8])
    assert struct.unpack("<I", data[12 + length : 16 + length])[0] == masked_crc32c(payload)
    events = read_events(path)
    assert events[0]["file_version"] == "brain.Event:2"
    assert abs(events[0]["wall_time"] - struct.unpack("<d", payload[1:9])[0]) == 0


def test_scalar_event_bytes(tmp_path):
    """The exact protobuf of one scalar event: field numbers and wire types as TensorBoard reads
    them."""
    with EventWriter(tmp_path) as writer:
        writer.add_scalar("a", 0.5, 300)
    data = open(writer.path, "rb").read()
    first = 12 + struct.unpack("<Q", data[:8])[0] + 4
    (length,) = struct.unpack("<Q", data[first : first + 8])
    payload = data[first + 12 : first + 12 + length]
    value = b"\x0a\x01a" + b"\x15" + struct.pack("<f", 0.5)  # tag = 1, simple_value = 2
    summary = b"\x0a" + bytes([len(value)]) + value  # Summary.value = 1
    # wall_time (0x09, 8 bytes), step = 300 (0x10, varint ac 02), summary (0x2a)
    assert payload[0] == 0x09
    assert payload[9:] == b"\x10\xac\x02" + b"\x2a" + bytes([len(summary)]) + summary


def test_scalars_round_trip(tmp_path):
    with EventWriter(tmp_path) as writer:
        writer.add_scalar("Loss/G", 0.25, 0)
        writer.add_scalar("Loss/D", torch.tensor(1.5), 1)
        writer.add_scalars({"Metrics/fid": 12.75, "Metrics/kid": np.float32(0.125)}, 2**40)
        writer.add_scalar("big", 1e300, -3)
        writer.add_scalar("nan", float("nan"), 4)
    events = read_events(writer.path)
    assert len(events) == 6
    assert [e["step"] for e in events[1:]] == [0, 1, 2**40, -3, 4]
    assert events[1]["scalars"] == {"Loss/G": 0.25}
    assert events[2]["scalars"] == {"Loss/D": 1.5}
    assert events[3]["scalars"] == {"Metrics/fid": 12.75, "Metrics/kid": 0.125}
    assert events[4]["scalars"] == {"big": float("inf")}  # float32 like TensorBoard stores it
    assert np.isnan(events[5]["scalars"]["nan"])
    times = [e["wall_time"] for e in events]
    assert times == sorted(times) and all(t > 1.6e9 for t in times)


def test_images_round_trip(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    grey = np.random.default_rng(1).integers(0, 256, size=(4, 6, 1), dtype=np.uint8)
    # A float tensor [3, 2, 3] in [-1, 1]: each row is -1, 0, 1 -> bytes 0, 128, 255.
    tensor = torch.tensor([-1.0, 0.0, 1.0]).expand(3, 2, 3)
    from_tensor = np.array([[0, 128, 255]] * 2, dtype=np.uint8)[:, :, None].repeat(3, axis=2)
    with EventWriter(tmp_path) as writer:
        writer.add_image("rgb", rgb, 10)
        writer.add_image("grey", grey, 11)
        writer.add_image("tensor", tensor, 12)
    events = read_events(writer.path)
    assert len(events) == 4
    for event, tag, expected, step in [
        (events[1], "rgb", rgb, 10),
        (events[2], "grey", grey, 11),
        (events[3], "tensor", from_tensor, 12),
    ]:
        assert event["step"] == step and event["scalars"] == {}
        height, width, png = event["images"][tag]
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        decoded = np.asarray(Image.open(io.BytesIO(png)))
        decoded = decoded[:, :, None] if decoded.ndim == 2 else decoded
        assert (height, width) == expected.shape[:2]
        np.testing.assert_array_equal(decoded, expected)


def test_corrupt_byte_names_the_file(tmp_path):
    with EventWriter(tmp_path) as writer:
        writer.add_scalar("loss", 0.5, 1)
    data = open(writer.path, "rb").read()
    second = 12 + struct.unpack("<Q", data[:8])[0] + 4  # where the scalar event's record starts
    for position, what in [
        (3, "length's CRC"),  # a length byte of the first record
        (second + 9, "length's CRC"),  # the length's CRC
        (second + 20, "data's CRC"),  # a data byte
        (len(data) - 2, "data's CRC"),  # the data's CRC
    ]:
        broken = bytearray(data)
        broken[position] ^= 0x01
        path = tmp_path / "broken.tfevents"
        path.write_bytes(bytes(broken))
        with pytest.raises(ValueError, match=rf"broken\.tfevents: corrupt record .*{what}"):
            read_events(path)
    path.write_bytes(data[:-3])
    with pytest.raises(ValueError, match=r"broken\.tfevents: truncated record"):
        read_events(path)
    path.write_bytes(data + data[:5])
    with pytest.raises(ValueError, match=r"broken\.tfevents: truncated record header"):
        read_events(path)


def test_flush_makes_records_readable_before_close(tmp_path):
    writer = EventWriter(tmp_path, flush_secs=3600)
    writer.add_scalar("x", 2.0, 7)
    writer.flush()
    assert read_events(writer.path)[-1]["scalars"] == {"x": 2.0}
    writer.close()
    writer.close()
    assert writer.closed
    with pytest.raises(ValueError, match="closed"):
        writer.add_scalar("x", 1.0, 8)


def test_two_writers_get_two_files(tmp_path):
    with EventWriter(tmp_path) as first, EventWriter(tmp_path) as second:
        first.add_scalar("a", 1.0, 0)
        second.add_scalar("b", 2.0, 0)
    assert first.path != second.path
    assert read_events(first.path)[1]["scalars"] == {"a": 1.0}
    assert read_events(second.path)[1]["scalars"] == {"b": 2.0}


def test_bad_arguments(tmp_path):
    with EventWriter(tmp_path) as writer:
        with pytest.raises(ValueError, match="tag: expected a non-empty str"):
            writer.add_scalar("", 1.0, 0)
        with pytest.raises(TypeError, match="step: expected an int, got float"):
            writer.add_scalar("a", 1.0, 1.5)
        with pytest.raises(ValueError, match=r"value of 'a'.*shape \(2,\)"):
            writer.add_scalar("a", torch.zeros(2), 0)
        with pytest.raises(TypeError, match="value of 'a': expected a number, got str"):
            writer.add_scalar("a", "1", 0)
        with pytest.raises(ValueError, match=r"image: .*C in 1 or 3, got shape \(2, 4, 4\)"):
            writer.add_image("img", torch.zeros(2, 4, 4), 0)
        with pytest.raises(TypeError, match="image: expected a uint8 numpy array, got dtype float"):
            writer.add_image("img", np.zeros((4, 4, 3)), 0)
    # Nothing but the file_version event was written by the rejected calls.
    assert len(read_events(writer.path)) == 1
