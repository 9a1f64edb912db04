"""Distributed data-parallel training through Lightning's own DDP strategy, on two CPU processes (gloo)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np

from tsformer import ITransformerForecaster
from tsformer.datasets import make_synthetic

SETTINGS = dict(lookback=48, horizon=12, max_epochs=4, val_size=96, learning_rate=1e-3, accelerator="cpu",
                d_model=32, n_heads=2, d_ff=32, e_layers=1, random_state=0)

SCRIPT = """
import json, sys
import torch.distributed as dist
from tsformer import ITransformerForecaster
from tsformer.datasets import make_synthetic

df = make_synthetic(n_steps=1000, n_series=3, seed=0)
est = ITransformerForecaster(**json.loads(sys.argv[1]), batch_size=32,
                             trainer_kwargs={"strategy": "ddp", "devices": 2}).fit(df.iloc[:800])
est.save(sys.argv[2])   # every rank calls it; only rank 0 writes
if dist.is_initialized() and dist.get_rank() == 0:
    score = est.evaluate(df, start=800, scale="standardized")
    print(json.dumps({"world": dist.get_world_size(), "mse": score["mse"],
                      "forecast": est.predict().to_numpy().tolist()}))
"""


def test_ddp_on_two_cpu_processes_predicts_like_one_process(tmp_path):
    script = tmp_path / "fit_ddp.py"
    script.write_text(textwrap.dedent(SCRIPT))
    model = tmp_path / "m.tsf"
    r = subprocess.run([sys.executable, str(script), json.dumps(SETTINGS), str(model)], capture_output=True,
                       text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, r.stdout  # rank 0 reported, once
    ddp = lines[0]
    assert ddp["world"] == 2

    # one process with the same global batch (2 x 32): the same model up to the order of the batches
    df = make_synthetic(n_steps=1000, n_series=3, seed=0)
    single = ITransformerForecaster(**SETTINGS, batch_size=64).fit(df.iloc[:800])
    mse = single.evaluate(df, start=800, scale="standardized")["mse"]
    assert abs(ddp["mse"] - mse) < 0.1 * mse, (ddp["mse"], mse)
    fc_single = single.predict().to_numpy()
    fc_ddp = np.asarray(ddp["forecast"])
    assert np.abs(fc_ddp - fc_single).mean() < 0.05 * fc_single.std()

    # the model file rank 0 wrote predicts what rank 0 printed
    import tsformer

    np.testing.assert_allclose(tsformer.load(model).predict().to_numpy(), fc_ddp, rtol=1e-5)


def test_cli_ddp_flags_write_the_model_once(tmp_path):
    csv = tmp_path / "data.csv"
    make_synthetic(n_steps=400, n_series=2, seed=0).reset_index().to_csv(csv, index=False)
    model = tmp_path / "m.tsf"
    r = subprocess.run([sys.executable, "-m", "tsformer", "fit", str(csv), "--lookback", "24", "--horizon", "6",
                        "--max-epochs", "1", "--val-size", "24", "--accelerator", "cpu", "--param", "d_model=16",
                        "--param", "n_heads=2", "--param", "d_ff=16", "--param", "e_layers=1", "--strategy", "ddp",
                        "--devices", "2", "--num-nodes", "1", "--save-model", str(model)],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr.count("saved the model") == 1 and r.stderr.count("training itransformer") == 1, r.stderr
    assert model.exists()


def test_rank_before_lightning_is_loaded_comes_from_the_launcher(monkeypatch):
    """Without a fit (e.g. a saved model forecast under torchrun) the rank is read as Lightning reads it."""
    from tsformer.training.rank import is_global_zero

    monkeypatch.delitem(sys.modules, "lightning.fabric.utilities.rank_zero", raising=False)
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        monkeypatch.delenv(key, raising=False)
    assert is_global_zero()
    monkeypatch.setenv("SLURM_PROCID", "3")
    assert not is_global_zero()
    monkeypatch.setenv("LOCAL_RANK", "0")  # LOCAL_RANK before SLURM_PROCID, as in Lightning
    assert is_global_zero()
    monkeypatch.setenv("RANK", "1")
    assert not is_global_zero()
