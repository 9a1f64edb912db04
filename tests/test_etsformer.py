"""ETSformer's mechanism: exponential smoothing attention (weights, FFT = naive sum), frequency attention
(reconstruction and extrapolation), growth, level and damping, and the level + growth + season forecast."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from tsformer import ETSformerForecaster
from tsformer.errors import ConfigError, NotFittedError
from tsformer.nn import ETSformer
from tsformer.nn.layers.ets import (DampingLayer, ExponentialSmoothing, FourierLayer, GrowthLayer, LevelLayer,
                                    causal_fft_conv)

from .conftest import tiny


def naive_esa(values, alpha, v0):
    """``out_t = Σ_{j<=t} α(1-α)^j v_{t-j} + (1-α)^{t+1} v0`` by the O(L²) double loop."""
    batch, length, heads, dim = values.shape
    out = torch.zeros_like(values)
    for t in range(length):
        for j in range(t + 1):
            out[:, t] += (alpha * (1 - alpha) ** j)[:, None] * values[:, t - j]
        out[:, t] += ((1 - alpha) ** (t + 1))[:, None] * v0
    return out


def esa(heads=3, dim=2, **kw):
    torch.manual_seed(0)
    return ExponentialSmoothing(heads, dim, **kw).double()


def test_esa_weights_on_an_impulse_are_alpha_one_minus_alpha_to_the_j():
    layer = esa()
    with torch.no_grad():
        layer.v0.zero_()
    impulse = torch.zeros(1, 20, 3, 2, dtype=torch.float64)
    impulse[:, 5] = 1.0
    out = layer(impulse)[0, :, :, 0]                                      # (20, heads)
    alpha = layer.alpha.detach()
    j = torch.arange(15, dtype=torch.float64)[:, None]
    torch.testing.assert_close(out[5:], alpha * (1 - alpha) ** j, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(out[:5], torch.zeros(5, 3, dtype=torch.float64), rtol=0, atol=1e-12)
    assert len(set(alpha.tolist())) == 3  # one learnable α per head
    weights, _ = layer.weights(40)
    torch.testing.assert_close(weights.sum(0), 1 - (1 - alpha) ** 40)  # weights and initial state sum to 1


def test_fft_esa_equals_the_naive_quadratic_sum_with_the_initial_state():
    layer = esa(heads=4, dim=3)
    values = torch.randn(2, 50, 4, 3, dtype=torch.float64)
    torch.testing.assert_close(layer(values), naive_esa(values, layer.alpha.detach(), layer.v0.detach()),
                               rtol=1e-9, atol=1e-9)
    # and the convolution itself against a direct one
    x, k = torch.randn(3, 33, 2, dtype=torch.float64), torch.randn(1, 33, 2, dtype=torch.float64)
    direct = torch.stack([(k[:, : t + 1].flip(1) * x[:, : t + 1]).sum(1) for t in range(33)], 1)
    torch.testing.assert_close(causal_fft_conv(x, k), direct, rtol=1e-9, atol=1e-9)


def test_esa_gradient_reaches_alpha_and_the_initial_state():
    layer = esa().float()
    layer(torch.randn(2, 16, 3, 2)).square().sum().backward()
    assert layer.alpha_logit.grad.abs().min() > 0 and layer.v0.grad.abs().min() > 0


def two_sines(length, phase=(0.3, 1.1)):
    t = torch.arange(length, dtype=torch.float64)
    return (2.0 * torch.sin(2 * math.pi * t / 24 + phase[0]) + 0.7 * torch.cos(2 * math.pi * t / 12 + phase[1]))


def test_frequency_attention_reconstructs_and_extrapolates_two_sinusoids():
    lookback, horizon = 96, 48
    series = two_sines(lookback + horizon)
    x = torch.stack([series, -0.5 * series], -1)[None, :lookback]           # (1, 96, 2): two features
    out = FourierLayer(horizon, k=2)(x)
    assert out.shape == (1, lookback + horizon, 2)
    torch.testing.assert_close(out[0, :, 0], series, rtol=0, atol=1e-6)      # lookback and horizon
    torch.testing.assert_close(out[0, :, 1], -0.5 * series, rtol=0, atol=1e-6)
    # K = 1 keeps only the larger amplitude (period 24, amplitude 2)
    one = FourierLayer(horizon, k=1)(x)[0, :, 0]
    t = torch.arange(lookback + horizon, dtype=torch.float64)
    torch.testing.assert_close(one, 2.0 * torch.sin(2 * math.pi * t / 24 + 0.3), rtol=0, atol=1e-6)
    # the mean (zero frequency) is never a season
    torch.testing.assert_close(FourierLayer(horizon, k=3)(x + 5.0), FourierLayer(horizon, k=3)(x), rtol=0, atol=1e-6)


def test_frequency_attention_extrapolates_off_grid_periods_approximately():
    # a period that does not divide the lookback leaks over neighbouring frequencies; more K recovers it
    t = torch.arange(96 + 24, dtype=torch.float64)
    series = torch.sin(2 * math.pi * t / 23.0)
    errors = [(FourierLayer(24, k=k)(series[None, :96, None])[0, :, 0] - series).abs().mean() for k in (1, 8)]
    assert errors[1] < errors[0] < 0.5


def identity_growth(d_model=4, heads=2):
    torch.manual_seed(0)
    layer = GrowthLayer(d_model, heads).double()
    with torch.no_grad():
        for proj in (layer.in_proj, layer.out_proj):
            proj.weight.copy_(torch.eye(d_model))
            proj.bias.zero_()
    return layer


def test_growth_is_smoothed_successive_differences():
    layer = identity_growth()
    slope = torch.tensor([0.5, -1.0, 2.0, 0.0], dtype=torch.float64)
    ramp = torch.arange(60, dtype=torch.float64)[None, :, None] * slope      # (1, 60, 4)
    growth = layer(ramp)
    assert growth.shape == (1, 61, 4)
    torch.testing.assert_close(growth[0, 0], layer.es.v0.detach().reshape(-1))  # step 0: the initial growth
    torch.testing.assert_close(growth[0, -1], slope, rtol=0, atol=1e-3)         # a ramp's growth is its slope
    # exactly: ESA of the differences (the first against the learnable z0)
    diffs = torch.diff(torch.cat([layer.z0.detach().reshape(1, 1, -1), ramp], 1), dim=1)
    want = naive_esa(diffs.view(1, 60, 2, 2), layer.es.alpha.detach(), layer.es.v0.detach()).view(1, 60, 4)
    torch.testing.assert_close(growth[:, 1:], want, rtol=1e-9, atol=1e-9)


def test_level_follows_the_level_smoothing_equation():
    torch.manual_seed(0)
    layer = LevelLayer(6, 3).double().eval()
    level_in = torch.randn(2, 30, 3, dtype=torch.float64)
    growth, season = torch.randn(2, 30, 6, dtype=torch.float64), torch.randn(2, 30, 6, dtype=torch.float64)
    got = layer(level_in, growth, season)
    alpha, e0 = layer.es.alpha.detach(), layer.es.v0.detach()[:, 0]
    s, b = layer.season_pred(season).detach(), layer.growth_pred(growth).detach()
    e, want = e0.expand(2, 3), []
    for t in range(30):  # e_t = α (x_t - s_t) + (1 - α)(e_{t-1} + b_{t-1}), b given already shifted
        e = alpha * (level_in[:, t] - s[:, t]) + (1 - alpha) * (e + b[:, t])
        want.append(e)
    torch.testing.assert_close(got, torch.stack(want, 1), rtol=1e-9, atol=1e-9)


def test_damping_makes_the_growth_forecast_a_damped_trend():
    torch.manual_seed(0)
    layer = DampingLayer(10, 2).eval()
    growth = torch.ones(1, 1, 4)
    out = layer(growth)[0]                                                    # (10, 4)
    phi = layer.phi.detach()
    steps = torch.diff(torch.cat([torch.zeros(1, 4), out]), dim=0)          # per-step increments: φ^h
    torch.testing.assert_close(steps[:, :2], (phi[0] ** torch.arange(1, 11.0))[:, None].expand(10, 2))
    torch.testing.assert_close(steps[:, 2:], (phi[1] ** torch.arange(1, 11.0))[:, None].expand(10, 2))


def net(**kw):
    torch.manual_seed(0)
    return ETSformer(**{"n_vars": 3, "lookback": 48, "horizon": 12, "d_model": 16, "n_heads": 2, "e_layers": 2,
                        "d_ff": 32, "top_k": 3, "dropout": 0.0, **kw}).eval()


def test_forecast_is_level_plus_growth_plus_season():
    model = net()
    x = torch.randn(4, 48, 3)
    level, growth, season = model.components(x)
    assert level.shape == growth.shape == season.shape == (4, 12, 3)
    torch.testing.assert_close(level + growth + season, model(x))
    torch.testing.assert_close(level, level[:, :1].expand_as(level))          # the level is flat over the horizon
    assert net(n_outputs=3)(x).shape == (4, 12, 3, 3)


def test_the_season_component_is_the_extrapolated_frequency_attention():
    # with a K=0 frequency attention there is no season at all
    model = net(top_k=0)
    _, _, season = model.components(torch.randn(2, 48, 3))
    torch.testing.assert_close(season, model.projection.bias.expand_as(season))


def test_training_mode_augments_the_input_and_eval_mode_does_not():
    model = net(augment_sigma=0.2)
    x = torch.randn(2, 48, 3)
    torch.testing.assert_close(model(x), model(x))
    model.train()
    assert not torch.allclose(model(x), model(x))
    model.augment_sigma = 0.0
    torch.testing.assert_close(model(x), model(x))  # dropout is 0 here: all randomness was the augmentation


def test_predict_components_add_up_to_the_forecast(synthetic):
    est = tiny("etsformer").fit(synthetic)
    for history in (None, synthetic.iloc[:400]):
        parts = est.predict_components(history)
        fc = est.predict(history)
        assert set(parts) == {"level", "growth", "season"}
        for frame in parts.values():
            assert frame.index.equals(fc.index) and list(frame.columns) == list(fc.columns)
        pd.testing.assert_frame_equal(parts["level"] + parts["growth"] + parts["season"], fc, atol=1e-4, rtol=1e-5)
        assert np.allclose(parts["level"].to_numpy(), parts["level"].to_numpy()[:1])
    # long frames come back long
    long = synthetic.reset_index().melt(id_vars="date", var_name="unique_id", value_name="y").rename(columns={"date": "ds"})
    parts = tiny("etsformer", val_size=0).fit(long).predict_components()
    assert list(parts["season"].columns) == ["unique_id", "ds", "y"] and len(parts["season"]) == 36


def test_predict_components_needs_a_fitted_model_and_counts_the_covariates(synthetic):
    with pytest.raises(NotFittedError, match="not fitted"):
        ETSformerForecaster().predict_components()
    est = tiny("etsformer", future_covariates=["series_2"]).fit(synthetic.iloc[:-12])
    future = synthetic.iloc[-12:][["series_2"]]
    parts = est.predict_components(future=future)
    assert set(parts) == {"level", "growth", "season", "covariates"}
    total = sum(parts[k] for k in parts)
    pd.testing.assert_frame_equal(total, est.predict(future=future), rtol=1e-4, atol=1e-4)


def test_damping_dropout_draws_a_mask_per_forecast_step_as_the_reference_does():
    torch.manual_seed(0)
    layer = DampingLayer(50, 2, dropout=0.5).train()
    with torch.no_grad():
        layer.phi_logit.fill_(20.0)                                           # φ = 1: step h is h times the growth
    out = layer(torch.ones(1, 1, 64))[0] / torch.arange(1, 51.0)[:, None]   # (50, 64): 0 or 1 / (1 - p)
    dropped = out == 0
    assert 0 < dropped.float().mean() < 1
    assert not (dropped == dropped[:1]).all()                                  # the steps' masks differ
    torch.testing.assert_close(out[~dropped], torch.full_like(out[~dropped], 2.0))
    layer.eval()
    torch.testing.assert_close(layer(torch.ones(1, 1, 64))[0] / torch.arange(1, 51.0)[:, None], torch.ones(50, 64))


def test_the_fft_layers_take_bfloat16_inputs_as_bf16_mixed_gives_them_on_a_gpu():
    # torch's FFTs reject bfloat16 (CUDA autocast hands the season layer a bf16 tensor: found on an H200);
    # both FFT layers transform in float32 and give back the input's dtype
    x = torch.randn(2, 48, 8)
    season = FourierLayer(horizon=12, k=3)
    out = season(x.bfloat16())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), season(x.bfloat16().float()), rtol=0, atol=1e-2)
    kernel = torch.rand(1, 48, 1)
    conv = causal_fft_conv(x.bfloat16(), kernel)
    assert conv.dtype == torch.float32  # promoted with the float32 kernel, as a product would be
    torch.testing.assert_close(conv, causal_fft_conv(x.bfloat16().float(), kernel))
    assert causal_fft_conv(x.bfloat16(), kernel.bfloat16()).dtype == torch.bfloat16


def test_warmup_schedule_trains_the_smoothing_and_damping_weights_alone_first(synthetic):
    # salesforce/ETSformer's recipe: epoch 1 moves only the smoothing (alpha) and damping (phi) weights, at 100x
    # the rate; then every weight at 1/4, 2/4, 3/4 and 1 times it
    import lightning as L

    class Record(L.Callback):
        def __init__(self):
            self.rates, self.moved = [], []

        def on_train_epoch_start(self, trainer, pl_module):
            self.before = {n: p.detach().clone() for n, p in pl_module.network.named_parameters()}
            self.rates.append([g["lr"] for g in trainer.optimizers[0].param_groups])

        def on_train_epoch_end(self, trainer, pl_module):
            self.moved.append({n for n, p in pl_module.network.named_parameters() if not torch.equal(p, self.before[n])})

    record = Record()
    est = tiny("etsformer", e_layers=2, max_epochs=5, patience=None, learning_rate=1e-3, lr_schedule="warmup",
               trainer_kwargs={"callbacks": [record]}).fit(synthetic)
    assert sum(record.rates, []) == pytest.approx([0.0, 0.1, *[2.5e-4] * 2, *[5e-4] * 2, *[7.5e-4] * 2, *[1e-3] * 2])
    warm = {n.rsplit(".", 1)[-1] for n in record.moved[0]}
    assert warm == {"alpha_logit", "phi_logit"}
    # the two encoder layers' growth and level smoothing, the two decoder layers' damping: all of them
    assert sum(n.endswith(("alpha_logit", "phi_logit")) for n in record.moved[0]) == 6
    assert len(record.moved[1]) > 6  # then the whole network trains
    assert [row["lr"] for row in est.history_] == pytest.approx([0.0, 2.5e-4, 5e-4, 7.5e-4, 1e-3])
    assert np.isfinite(est.predict().to_numpy()).all()
