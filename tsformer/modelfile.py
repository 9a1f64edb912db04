"""The tsformer model file: JSON configuration + raw tensor bytes, no pickle.

Layout::

    MAGIC (16 bytes) | header length (8 bytes, little endian) | header (UTF-8 JSON) | tensor data

The header holds the user's configuration under ``"config"`` and, under ``"tensors"``, each tensor's
dtype, shape and byte range in the data section, plus the data section's SHA-256.  Reading never
executes anything from the file: JSON is parsed, tensors are rebuilt with ``numpy.frombuffer`` from
a fixed set of dtypes.  A truncated, corrupted or foreign file raises :class:`ModelFileError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import torch

from .errors import ModelFileError, OutputExistsError

__all__ = ["write_model_file", "read_model_file", "MAGIC"]

MAGIC = b"TSFORMER-MODEL\x00\x01"
_DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16, "int64": np.int64,
           "int32": np.int32, "bool": np.bool_, "uint8": np.uint8}
_MAX_HEADER = 64 * 1024 * 1024


def write_model_file(path, config: dict, tensors: dict[str, torch.Tensor], *, overwrite: bool = False) -> Path:
    """Write ``config`` (JSON-serializable) and ``tensors`` to ``path`` atomically."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass overwrite=True (CLI: --force) to replace it")
    chunks, index, offset = [], {}, 0
    for name, t in tensors.items():
        if t.dtype == torch.bfloat16:
            t = t.float()
        arr = np.ascontiguousarray(t.detach().cpu().numpy())
        dtype = arr.dtype.name
        if dtype not in _DTYPES:
            raise TypeError(f"tensor {name!r} has unsupported dtype {dtype}")
        data = arr.tobytes()
        index[name] = {"dtype": dtype, "shape": list(arr.shape), "offset": offset, "nbytes": len(data)}
        chunks.append(data)
        offset += len(data)
    blob = b"".join(chunks)
    header = json.dumps({"config": config, "tensors": index, "data_bytes": len(blob),
                         "sha256": hashlib.sha256(blob).hexdigest()}, allow_nan=True).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC)
            f.write(struct.pack("<Q", len(header)))
            f.write(header)
            f.write(blob)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_model_file(path) -> tuple[dict, dict[str, torch.Tensor]]:
    """Read a file written by :func:`write_model_file`; returns ``(config, tensors)``."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    raw = path.read_bytes()
    if not raw.startswith(MAGIC):
        raise ModelFileError(f"{path} is not a tsformer model file (wrong signature); save one with est.save(path)")
    pos = len(MAGIC)
    if len(raw) < pos + 8:
        raise ModelFileError(f"{path} is truncated (no header); save the model again")
    (hlen,) = struct.unpack("<Q", raw[pos:pos + 8])
    pos += 8
    if hlen > _MAX_HEADER or pos + hlen > len(raw):
        raise ModelFileError(f"{path} is truncated or corrupt (header of {hlen} bytes does not fit); save the model again")
    try:
        header = json.loads(raw[pos:pos + hlen].decode("utf-8"))
        config, index, n_data, digest = header["config"], header["tensors"], header["data_bytes"], header["sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path} has a corrupt header ({exc}); save the model again") from exc
    blob = raw[pos + hlen:]
    if len(blob) != n_data:
        raise ModelFileError(f"{path} is truncated: {len(blob)} of {n_data} tensor bytes present; save the model again")
    if hashlib.sha256(blob).hexdigest() != digest:
        raise ModelFileError(f"{path} is corrupt (checksum mismatch); save the model again")
    tensors = {}
    try:
        for name, spec in index.items():
            dtype = _DTYPES[spec["dtype"]]
            start, nbytes = int(spec["offset"]), int(spec["nbytes"])
            arr = np.frombuffer(blob, dtype=dtype, count=nbytes // np.dtype(dtype).itemsize, offset=start)
            tensors[name] = torch.from_numpy(arr.reshape(spec["shape"]).copy())
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{path} has a corrupt tensor table ({exc}); save the model again") from exc
    return config, tensors
