"""Bundled data and the synthetic generator."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from tsformer.datasets import dataset_path, load_dataset, make_synthetic
from tsformer.errors import DataError

ETTH1_SHA256 = "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066"


def test_etth1_is_shipped_unmodified_with_its_notice():
    path = dataset_path("ETTh1")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == ETTH1_SHA256
    notice = (path.parent / "NOTICE.md").read_text()
    assert "CC BY-ND 4.0" in notice and "Zhou" in notice


def test_load_etth1():
    df = load_dataset("ETTh1")
    assert df.shape == (17420, 7) and isinstance(df.index, pd.DatetimeIndex) and df.index.name == "date"
    assert list(df.columns) == ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
    assert (df.dtypes == "float64").all()


def test_load_from_path_and_unbundled_names(tmp_path):
    make_synthetic(50, 2).reset_index().to_csv(tmp_path / "ETTm1.csv", index=False)
    assert load_dataset("ETTm1", path=tmp_path).shape == (50, 2)
    assert load_dataset(path=tmp_path / "ETTm1.csv").shape == (50, 2)
    with pytest.raises(DataError, match="not bundled.*path="):
        load_dataset("ETTm2")


def test_make_synthetic_is_deterministic():
    a, b = make_synthetic(200, 3, seed=5), make_synthetic(200, 3, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert not make_synthetic(200, 3, seed=6).equals(a)
    assert a.index.freqstr == "h" and a.shape == (200, 3)
