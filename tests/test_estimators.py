"""The shared battery: every registered estimator, with its tiny test parameters."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (check_estimators_unfitted, check_get_params_invariance,
                                            check_no_attributes_set_in_init, check_parameters_default_constructible,
                                            check_set_params)

import tsformer
from tsformer import registry
from tsformer.base import COMMON_PARAMS
from tsformer.datasets import make_synthetic
from tsformer.errors import ConfigError, DataError, OutputExistsError
from tsformer.training.module import ForecastingModule

from .conftest import tiny

SKLEARN_CHECKS = [check_parameters_default_constructible, check_no_attributes_set_in_init,
                  check_get_params_invariance, check_set_params, check_estimators_unfitted]


@pytest.mark.parametrize("check", SKLEARN_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_api_checks(model_name, check):
    cls = registry.get_estimator(model_name)
    check(cls.__name__, cls())


def test_unfitted_predict_raises_not_fitted(model_name):
    with pytest.raises(NotFittedError, match="not fitted"):
        tiny(model_name).predict()


def test_fit_predict_shapes_index_and_columns(model_name, synthetic):
    est = tiny(model_name)
    assert est.fit(synthetic) is est
    fc = est.predict()
    assert fc.shape == (12, 3) and list(fc.columns) == list(synthetic.columns)
    expected = pd.date_range(synthetic.index[-1], periods=13, freq="h")[1:]
    assert fc.index.equals(expected) and np.isfinite(fc.to_numpy()).all()
    fc2 = est.predict(synthetic.iloc[:300])
    assert fc2.index[0] == synthetic.index[300] and not np.allclose(fc2.to_numpy(), fc.to_numpy())
    assert est.history_ and "train_loss" in est.history_[0] and "val_loss" in est.history_[0]


def test_target_subset_forecasts_only_the_target(model_name, synthetic):
    fc = tiny(model_name, target=["series_2"]).fit(synthetic).predict()
    assert list(fc.columns) == ["series_2"]


def test_predict_does_not_write_to_the_estimator(model_name, synthetic):
    est = tiny(model_name).fit(synthetic)
    before = {k: v for k, v in vars(est).items() if k != "network_"}
    weights = {k: v.clone() for k, v in est.network_.state_dict().items()}
    est.predict()
    est.predict(synthetic.iloc[:400])
    assert set(vars(est)) == set(before) | {"network_"}
    assert all((est.network_.state_dict()[k] == v).all() for k, v in weights.items())


def test_same_seed_same_forecast(model_name, synthetic):
    a = tiny(model_name).fit(synthetic).predict()
    b = tiny(model_name).fit(synthetic).predict()
    pd.testing.assert_frame_equal(a, b)


def test_save_load_and_pickle_roundtrips(model_name, synthetic, tmp_path):
    est = tiny(model_name).fit(synthetic)
    path = est.save(tmp_path / "m.tsf")
    loaded = tsformer.load(path)
    assert type(loaded) is type(est) and loaded.get_params() == est.get_params()
    pd.testing.assert_frame_equal(loaded.predict(), est.predict())
    pd.testing.assert_frame_equal(loaded.predict(synthetic.iloc[:350]), est.predict(synthetic.iloc[:350]))
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        est.save(path)
    est.save(path, overwrite=True)
    again = pickle.loads(pickle.dumps(est))
    pd.testing.assert_frame_equal(again.predict(), est.predict())
    assert clone(est).get_params() == est.get_params() and not hasattr(clone(est), "network_")


def test_learns_beats_last_value_forecast(model_name):
    df = make_synthetic(n_steps=1500, n_series=3, freq="h", seed=3, periods=(24,), noise=0.05)
    train, test = df.iloc[:1200], df
    est = tiny(model_name, max_epochs=4, val_size=120, lookback=48, horizon=12).fit(train)
    model = est.evaluate(test, start=1200, scale="standardized")
    # the last-value ("naive") forecast over the same windows, same units
    z = est.scaler_.transform(test.to_numpy())
    starts = np.arange(1200 - 48, len(test) - 48 - 12 + 1)
    naive = np.mean([(z[s + 48:s + 60] - z[s + 47]) ** 2 for s in starts])
    assert model["n_windows"] == len(starts)
    assert model["mse"] < 0.5 * naive, (model, naive)


def test_history_with_other_columns_is_rejected(model_name, synthetic):
    est = tiny(model_name).fit(synthetic)
    with pytest.raises(DataError, match="missing \\['series_2'\\]"):
        est.predict(synthetic.drop(columns="series_2"))
    with pytest.raises(DataError, match="needs the last lookback"):
        est.predict(synthetic.iloc[:10])
    pd.testing.assert_frame_equal(est.predict(synthetic[synthetic.columns[::-1]]), est.predict())


def test_too_few_rows_and_bad_params_are_clear(model_name, synthetic):
    with pytest.raises(DataError, match="need at least 108 rows"):
        tiny(model_name).fit(synthetic.iloc[:100])
    with pytest.raises(ConfigError, match="lookback must be a positive integer"):
        tiny(model_name, lookback=0).fit(synthetic)
    with pytest.raises(ConfigError, match="val_size"):
        tiny(model_name, val_size=1.5).fit(synthetic)
    with pytest.raises(DataError, match="validation tail has 5 rows"):
        tiny(model_name, val_size=5).fit(synthetic)


def test_long_frame_in_long_frame_out(model_name, synthetic):
    long = synthetic.reset_index().melt(id_vars="date", var_name="unique_id", value_name="y")
    long = long.rename(columns={"date": "ds"})
    fc = tiny(model_name, val_size=0).fit(long).predict()
    assert list(fc.columns) == ["unique_id", "ds", "y"] and len(fc) == 3 * 12
    assert set(fc["unique_id"]) == set(synthetic.columns)


#: training defaults an estimator takes from its paper's own code instead of the common ones (documented in its class)
PAPER_TRAINING = {"etsformer": dict(max_epochs=15, patience=5, lr_schedule="warmup", gradient_clip_val=1.0)}


def test_every_estimator_takes_the_common_parameters(model_name):
    params = registry.get_estimator(model_name)().get_params()
    assert {k: params[k] for k in COMMON_PARAMS} == {**COMMON_PARAMS, **PAPER_TRAINING.get(model_name, {})}


def test_window_step_strides_the_training_windows(synthetic, monkeypatch):
    import tsformer.training

    sizes = []
    real = tsformer.training.train_network

    def spy(module, train_set, val_set, **kwargs):
        sizes.append((len(train_set), len(val_set)))
        return real(module, train_set, val_set, **kwargs)

    monkeypatch.setattr(tsformer.training, "train_network", spy)  # what fit calls
    tiny("itransformer").fit(synthetic)
    tiny("itransformer", window_step=5).fit(synthetic)
    (n_train, n_val), (n_train5, n_val5) = sizes
    assert n_train == 600 - 48 - 48 - 12 + 1 and n_train5 == -(-n_train // 5)
    assert n_val == 48 - 12 + 1 and n_val5 == -(-n_val // 5)
    with pytest.raises(ConfigError, match="window_step must be a positive integer"):
        tiny("itransformer", window_step=0).fit(synthetic)


def test_bf16_mixed_precision_trains_and_forecasts_like_fp32(model_name, synthetic):
    fp32 = tiny(model_name).fit(synthetic).predict().to_numpy()
    bf16 = tiny(model_name, precision="bf16-mixed").fit(synthetic).predict().to_numpy()
    assert np.isfinite(bf16).all()
    assert np.abs(bf16 - fp32).mean() < 0.01 * np.abs(fp32).mean()


def test_the_scaler_never_sees_the_validation_rows(synthetic):
    est = tiny("itransformer").fit(synthetic)  # val_size=48: the last 48 rows validate
    train = synthetic.to_numpy()[:-48]
    np.testing.assert_allclose(est.scaler_.mean_.ravel(), train.mean(0))
    np.testing.assert_allclose(est.scaler_.scale_.ravel(), train.std(0), rtol=1e-6)
    wild = synthetic.copy()
    wild.iloc[-48:] *= 100  # whatever the validation rows hold, the scaler is the same
    np.testing.assert_allclose(tiny("itransformer").fit(wild).scaler_.mean_, est.scaler_.mean_)


def test_forecast_after_2262(synthetic):
    # pandas 3 holds such dates in microseconds; the forecast grid must not go through nanoseconds
    far = synthetic.set_axis(pd.date_range("2600-01-01", periods=len(synthetic), freq="h", name="date"))
    fc = tiny("itransformer").fit(far).predict()
    assert fc.index.equals(pd.date_range(far.index[-1], periods=13, freq="h")[1:])


def _saved_bytes_and_grads(network, inputs, seed):
    """Bytes autograd keeps for backward (each storage once) and the gradients, one training step."""
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    torch.manual_seed(seed)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = network(*inputs).square().mean()
    loss.backward()
    grads = [p.grad.clone() for p in network.parameters() if p.grad is not None]
    network.zero_grad()
    return sum(storages.values()), loss.item(), grads


def test_activation_checkpointing_keeps_less_for_backward_with_the_same_gradients(model_name):
    est = tiny(model_name, dropout=0.2, e_layers=2)
    torch.manual_seed(0)
    network = est._build_network(n_vars=3, n_marks=4).train()
    x, x_mark, y_mark = torch.randn(8, 48, 3), torch.randn(8, 48, 4), torch.randn(8, 12, 4)
    plain_bytes, plain_loss, plain_grads = _saved_bytes_and_grads(network, (x, x_mark, y_mark), seed=1)
    ForecastingModule(network, activation_checkpointing=True)  # switches the network's layers over
    ckpt_bytes, ckpt_loss, ckpt_grads = _saved_bytes_and_grads(network, (x, x_mark, y_mark), seed=1)
    assert ckpt_bytes < 0.7 * plain_bytes
    # the recomputation repeats the dropout masks (and Informer's sampled keys): the same step exactly
    assert ckpt_loss == pytest.approx(plain_loss, rel=1e-6)
    assert len(ckpt_grads) == len(plain_grads)
    for a, b in zip(ckpt_grads, plain_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_activation_checkpointing_fits_like_a_plain_fit(synthetic):
    plain = tiny("informer", dropout=0.2).fit(synthetic)
    ckpt = tiny("informer", dropout=0.2, activation_checkpointing=True).fit(synthetic)
    np.testing.assert_allclose(ckpt.predict().to_numpy(), plain.predict().to_numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ConfigError, match="activation_checkpointing must be True or False"):
        tiny("informer", activation_checkpointing="yes").fit(synthetic)
    with pytest.raises(ConfigError, match="no layer that can recompute"):
        ForecastingModule(torch.nn.Linear(2, 2), activation_checkpointing=True)


def test_fit_takes_trainer_kwargs_for_that_fit_only(synthetic):
    import lightning as L

    class Count(L.Callback):
        def __init__(self):
            self.epochs = 0

        def on_train_epoch_end(self, trainer, pl_module):
            self.epochs += 1

    own, this_fit = Count(), Count()
    est = tiny("itransformer", max_epochs=3, patience=None, trainer_kwargs={"callbacks": [own]})
    est.fit(synthetic, trainer_kwargs={"callbacks": [this_fit], "max_epochs": 2})  # over the estimator's own
    assert own.epochs == this_fit.epochs == 2 and len(est.history_) == 2
    assert est.get_params()["trainer_kwargs"] == {"callbacks": [own]}  # nothing of the fit's kept
    est.fit(synthetic)
    assert own.epochs == 2 + 3 and this_fit.epochs == 2
    single = Count()  # Lightning also takes one callback that is not in a list, on either side
    est.set_params(trainer_kwargs={"callbacks": own}).fit(synthetic, trainer_kwargs={"callbacks": single, "max_epochs": 1})
    assert own.epochs == 2 + 3 + 1 and single.epochs == 1
    est.set_params(trainer_kwargs={"callbacks": single}).fit(synthetic)  # and alone, with no fit's own
    assert single.epochs == 1 + 3
    with pytest.raises(ConfigError, match=r"fit\(trainer_kwargs=...\) must be a dict"):
        est.fit(synthetic, trainer_kwargs=["ddp"])


def test_max_steps_may_end_an_epoch_before_its_validation(synthetic):
    # 9 training steps an epoch at these sizes; max_steps ends the fit inside an epoch, before its validation pass
    est = tiny("itransformer", max_epochs=3, patience=2)
    est.fit(synthetic, trainer_kwargs={"max_steps": 4})  # was Lightning's "Early stopping conditioned on metric"
    assert [sorted(k for k in e if k.endswith("_loss")) for e in est.history_] == [["train_loss"]]
    assert est.predict().notna().all().all()
    est.fit(synthetic, trainer_kwargs={"max_steps": 20})  # two whole epochs, then two steps of a third
    rows = est.history_
    assert [("train_loss" in e, "val_loss" in e) for e in rows] == [(True, True), (True, True), (True, False)]
    # the cut epoch's train_loss is the mean over its own two steps, not the second epoch's value again
    assert rows[2]["train_loss"] != rows[1]["train_loss"]


def test_the_epoch_losses_are_window_means_handed_to_lightning_once_an_epoch(synthetic, monkeypatch):
    import tsformer.training

    seen, logged = {}, []
    real_train, real_log = tsformer.training.train_network, ForecastingModule.log

    def spy(module, train_set, val_set, **kwargs):
        seen.update(val=val_set)
        return real_train(module, train_set, val_set, **kwargs)

    def counting_log(self, name, *args, **kwargs):
        logged.append(name)
        return real_log(self, name, *args, **kwargs)

    monkeypatch.setattr(tsformer.training, "train_network", spy)
    monkeypatch.setattr(ForecastingModule, "log", counting_log)
    est = tiny("itransformer", max_epochs=2, patience=None, batch_size=7).fit(synthetic)  # a smaller last batch
    assert logged == ["train_loss", "val_loss"] * 2  # not once a step: a log call costs ~1 ms of bookkeeping
    # the best epoch's weights are restored: its validation loss is the mean squared error over every window
    val = seen["val"][list(range(len(seen["val"])))]
    with torch.no_grad():
        mse = torch.mean((est.network_.eval()(val["x"], val["x_mark"], val["y_mark"]) - val["y"]) ** 2)
    assert min(row["val_loss"] for row in est.history_) == pytest.approx(float(mse), rel=1e-5)
