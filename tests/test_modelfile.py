"""The model file: safe to read, clear errors for anything that is not a good one."""

from __future__ import annotations

import json
import struct

import pytest
import torch

import tsformer
from tsformer.errors import ModelFileError
from tsformer.modelfile import MAGIC, read_model_file, write_model_file

from .conftest import tiny


def test_roundtrip_keeps_config_and_tensors(tmp_path):
    tensors = {"a": torch.randn(3, 4), "b": torch.arange(5), "c": torch.tensor([True, False])}
    write_model_file(tmp_path / "x.tsf", {"k": [1, 2]}, tensors)
    config, back = read_model_file(tmp_path / "x.tsf")
    assert config == {"k": [1, 2]}
    for k, v in tensors.items():
        assert torch.equal(back[k], v)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, synthetic):
    path = tmp_path_factory.mktemp("m") / "m.tsf"
    tiny("itransformer").fit(synthetic).save(path)
    return path


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[: len(b) // 2], "truncated"),
    (lambda b: b[:20], "truncated"),
    (lambda b: b"PK\x03\x04" + b[4:], "not a tsformer model file"),
    (lambda b: b"", "not a tsformer model file"),
    (lambda b: b[:-10] + bytes(10), "checksum"),
    (lambda b: b[:30] + b"{garbage" + b[38:], "corrupt header"),
])
def test_damaged_or_foreign_files_raise_model_file_error(saved, tmp_path, damage, message):
    bad = tmp_path / "bad.tsf"
    bad.write_bytes(damage(saved.read_bytes()))
    with pytest.raises(ModelFileError, match=message):
        tsformer.load(bad)


def test_pickle_file_is_refused_without_running_it(tmp_path):
    import pickle

    bad = tmp_path / "evil.tsf"
    bad.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(ModelFileError, match="not a tsformer model file"):
        tsformer.load(bad)


def test_unknown_estimator_and_wrong_shapes_are_refused(saved, tmp_path):
    config, tensors = read_model_file(saved)
    config["estimator"] = "nosuchmodel"
    write_model_file(tmp_path / "a.tsf", config, tensors)
    with pytest.raises(ModelFileError, match="unknown type"):
        tsformer.load(tmp_path / "a.tsf")
    config, tensors = read_model_file(saved)
    config["params"]["d_model"] = 8  # weights no longer fit the network
    write_model_file(tmp_path / "b.tsf", config, tensors)
    with pytest.raises(ModelFileError, match="does not hold a valid"):
        tsformer.load(tmp_path / "b.tsf")
    with pytest.raises(ModelFileError, match="does not exist"):
        tsformer.load(tmp_path / "missing.tsf")


def test_header_is_plain_json(saved):
    raw = saved.read_bytes()
    assert raw.startswith(MAGIC)
    (n,) = struct.unpack("<Q", raw[len(MAGIC):len(MAGIC) + 8])
    header = json.loads(raw[len(MAGIC) + 8:len(MAGIC) + 8 + n])
    assert header["config"]["estimator"] == "itransformer"
