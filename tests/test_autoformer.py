"""Autoformer's mechanisms: Auto-Correlation, time-delay aggregation, decomposition layers, trend accumulation."""

from __future__ import annotations

import math

import pytest
import torch

from tsformer.nn import Autoformer
from tsformer.nn.layers import (AttentionLayer, AutoCorrelation, DecompDecoder, DecompDecoderLayer, SeasonalLayerNorm,
                                SeriesDecomposition, autocorrelation, moving_average, time_delay_aggregation)
from tsformer.nn.layers.autocorrelation import n_delays


def test_autocorrelation_matches_brute_force():
    torch.manual_seed(0)
    q, k = torch.randn(2, 3, 17, 4), torch.randn(2, 3, 17, 4)
    R = autocorrelation(q, k)
    L = 17
    brute = torch.stack([sum(q[..., t, :] * k[..., (t - tau) % L, :] for t in range(L)) for tau in range(L)], dim=-2)
    torch.testing.assert_close(R, brute, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("period", [12, 24, 17])
def test_top_delay_of_a_sinusoid_is_its_period(period):
    L = 96
    t = torch.arange(L, dtype=torch.float32)
    x = torch.sin(2 * math.pi * t / period)[None, None, :, None]  # (1, 1, L, 1)
    # zero-padded (non-circular): the first peak of R after the trivial delay 0 is the period
    padded = torch.cat([x, torch.zeros_like(x)], dim=2)
    R = autocorrelation(padded, padded)[0, 0, :L, 0]
    peaks = [tau for tau in range(1, L - 1) if R[tau] > R[tau - 1] and R[tau] >= R[tau + 1]]
    assert peaks[0] == period
    if L % period == 0:  # circular, as in the layer: the period is as strong as delay 0, the top delays are its multiples
        R = autocorrelation(x, x)[0, 0, :, 0]
        multiple = torch.arange(L) % period == 0
        assert torch.isclose(R[period], R[0], rtol=1e-4) and R[period] > R[~multiple].max() + 1
        delays = autocorrelation(x, x).mean(dim=(1, 3)).topk(n_delays(1, L), dim=-1).indices[0]
        assert (delays % period == 0).all()


def test_time_delay_aggregation_is_roll_and_sum():
    torch.manual_seed(0)
    v = torch.randn(2, 2, 10, 3)
    weights = torch.softmax(torch.randn(2, 3), -1)
    shared = torch.tensor([0, 3, 7])
    expected = sum(weights[:, i, None, None, None] * torch.roll(v, -int(d), dims=2) for i, d in enumerate(shared))
    torch.testing.assert_close(time_delay_aggregation(v, shared, weights), expected)
    # Roll(v, tau)[t] = v[t + tau]
    torch.testing.assert_close(time_delay_aggregation(v, torch.tensor([3]), torch.ones(2, 1))[:, :, 0], v[:, :, 3])
    per_sample = torch.tensor([[1, 4, 9], [2, 2, 5]])
    expected = torch.stack([sum(weights[b, i] * torch.roll(v[b], -int(per_sample[b, i]), dims=1) for i in range(3))
                            for b in range(2)])
    torch.testing.assert_close(time_delay_aggregation(v, per_sample, weights), expected)


def test_delays_are_batch_shared_in_training_and_per_sample_in_inference():
    L = 48
    t = torch.arange(L, dtype=torch.float32)
    a = torch.sin(2 * math.pi * t / 12)[None, None, :, None]
    b = torch.sin(2 * math.pi * t / 16)[None, None, :, None]
    both = torch.cat([a, b])  # (2, 1, L, 1)
    ac = AutoCorrelation(factor=1)
    ac.eval()
    torch.testing.assert_close(ac(both, both, both)[1:], ac(b, b, b))  # inference: each sample its own delays
    ac.train()
    assert not torch.allclose(ac(both, both, both)[1:], ac(b, b, b))  # training: delays chosen by the batch


def test_keys_are_cut_or_zero_padded_to_the_queries():
    torch.manual_seed(0)
    q, k = torch.randn(1, 2, 10, 4), torch.randn(1, 2, 16, 4)
    ac = AutoCorrelation().eval()
    torch.testing.assert_close(ac(q, k, k), ac(q, k[:, :, :10], k[:, :, :10]))
    short = k[:, :, :6]
    padded = torch.cat([short, torch.zeros(1, 2, 4, 4)], dim=2)
    torch.testing.assert_close(ac(q, short, short), ac(q, padded, padded))


def test_decomposition_block_sums_to_input_and_tracks_a_ramp():
    x = torch.randn(3, 40, 5)
    seasonal, trend = SeriesDecomposition(25)(x)
    torch.testing.assert_close(seasonal + trend, x)
    ramp = (torch.arange(64, dtype=torch.float32) * 0.3)[None, :, None]
    torch.testing.assert_close(moving_average(ramp, 25)[:, 12:-12], ramp[:, 12:-12], rtol=0, atol=1e-4)


def test_seasonal_layer_norm_has_zero_mean_over_time():
    out = SeasonalLayerNorm(8)(torch.randn(2, 30, 8) + 5)
    torch.testing.assert_close(out.mean(1), torch.zeros(2, 8), rtol=0, atol=1e-5)


def test_decoder_accumulates_every_layers_trend():
    torch.manual_seed(0)
    d, c = 16, 3

    def layer():
        return DecompDecoderLayer(AttentionLayer(AutoCorrelation(), d_model=d, n_heads=2),
                                  AttentionLayer(AutoCorrelation(), d_model=d, n_heads=2), d, c, 32, dropout=0.0)

    layers = [layer(), layer()]
    decoder = DecompDecoder(layers, norm=SeasonalLayerNorm(d), projection=torch.nn.Linear(d, c)).eval()
    x, memory, trend = torch.randn(2, 20, d), torch.randn(2, 30, d), torch.randn(2, 20, c)
    seasonal, total = decoder(x, memory, trend)
    x1, t1 = layers[0](x, memory)
    x2, t2 = layers[1](x1, memory)
    torch.testing.assert_close(total, trend + t1 + t2)
    torch.testing.assert_close(seasonal, decoder.projection(decoder.norm(x2)))


def net(**kw):
    torch.manual_seed(0)
    return Autoformer(**{"n_vars": 3, "lookback": 48, "horizon": 12, "n_marks": 4, "label_len": 24, "d_model": 16,
                         "n_heads": 2, "e_layers": 2, "d_layers": 1, "d_ff": 32, "dropout": 0.0, "moving_avg": 13,
                         **kw}).eval()


def test_decoder_initialization_from_the_decomposed_lookback():
    model = net()
    x = torch.randn(2, 48, 3)
    seasonal_init, trend_init = model.decoder_init(x)
    seasonal, trend = SeriesDecomposition(13)(x)
    assert seasonal_init.shape == trend_init.shape == (2, 36, 3)
    torch.testing.assert_close(seasonal_init[:, :24], seasonal[:, -24:])
    assert (seasonal_init[:, 24:] == 0).all()
    torch.testing.assert_close(trend_init[:, :24], trend[:, -24:])
    torch.testing.assert_close(trend_init[:, 24:], x.mean(1, keepdim=True).expand(-1, 12, -1))


def test_autoformer_shapes_and_future_timestamps_reach_the_forecast():
    model = net()
    x, x_mark, y_mark = torch.randn(4, 48, 3), torch.randn(4, 48, 4), torch.randn(4, 12, 4)
    y = model(x, x_mark, y_mark)
    assert y.shape == (4, 12, 3)
    assert not torch.allclose(model(x, x_mark, y_mark + 1), y)
    assert net(n_outputs=3)(x, x_mark, y_mark).shape == (4, 12, 3, 3)
    assert net(n_marks=0)(x).shape == (4, 12, 3)
    with pytest.raises(ValueError, match="label_len"):
        net(label_len=60)


def test_a_constant_series_is_forecast_by_its_trend():
    # the seasonal part of a constant is zero; the trend (the lookback's mean) carries the level
    model = net()
    x = torch.full((1, 48, 3), 4.0)
    seasonal_init, trend_init = model.decoder_init(x)
    assert torch.allclose(seasonal_init, torch.zeros_like(seasonal_init), atol=1e-6)
    torch.testing.assert_close(trend_init, torch.full_like(trend_init, 4.0))
