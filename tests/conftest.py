"""Shared fixtures: small synthetic frames and tiny, fast estimators from the registry."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

from tsformer import registry
from tsformer.datasets import make_synthetic

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))

#: the random state every test starts from; set TSFORMER_TEST_SEED to run the suite from another one
TEST_SEED = int(os.environ.get("TSFORMER_TEST_SEED", "0"))

#: training settings that make one fit take a second or two
FAST = dict(lookback=48, horizon=12, max_epochs=1, batch_size=64, random_state=0, accelerator="cpu",
            learning_rate=1e-3, val_size=48)


def tiny(name: str, **overrides):
    """The registered estimator ``name`` with its tiny test parameters and fast training settings."""
    cls = registry.get_estimator(name)
    return cls(**{**FAST, **cls.test_params(), **overrides})


@pytest.fixture(scope="session")
def synthetic():
    """600 hourly rows x 3 series with daily and weekly seasonality."""
    return make_synthetic(n_steps=600, n_series=3, freq="h", seed=1)


@pytest.fixture(params=registry.available())
def model_name(request):
    return request.param


@pytest.fixture(autouse=True)
def _same_random_state():
    """Each test draws the same random inputs whichever tests ran before it (or in another order).

    Not ``tsformer.training.seed_everything``: that goes through Lightning, which would then be loaded for every
    test and would leave ``PL_GLOBAL_SEED`` in the environment of the subprocesses the CLI and DDP tests start.
    """
    random.seed(TEST_SEED)
    np.random.seed(TEST_SEED)
    torch.manual_seed(TEST_SEED)
