"""xLSTMTime's mechanism: the stabilized sLSTM, block-diagonal recurrence, the mLSTM's two equal forms,
the variate token axis, the cell rule, and (optionally) agreement with the `xlstm` package."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from tsformer import XLSTMTimeForecaster
from tsformer.errors import ConfigError
from tsformer.nn import XLSTMTime
from tsformer.nn.layers.xlstm import (MLSTMBlock, MLSTMLayer, SLSTMBlock, SLSTMLayer, mlstm_parallel, mlstm_recurrent,
                                      slstm_scan)
from tsformer.nn.xlstm_time import MLSTM_MIN_VARS, choose_cell

from .conftest import tiny


def textbook_slstm(wx, recurrent, bias):
    """The sLSTM without the stabilizer: i = exp(ĩ), f = σ(f̃), c = f c + i z, n = f n + i, h = o c / n."""
    batch, length, _, d = wx.shape
    n_heads = recurrent.shape[1]
    h = c = n = wx.new_zeros(batch, d)
    outs = []
    for t in range(length):
        rec = torch.einsum("bhi,ghio->bgho", h.view(batch, n_heads, -1), recurrent).reshape(batch, 4, d)
        i_raw, f_raw, z_raw, o_raw = (wx[:, t] + rec + bias).unbind(1)
        i, f = torch.exp(i_raw), torch.sigmoid(f_raw)
        c = f * c + i * torch.tanh(z_raw)
        n = f * n + i
        h = torch.sigmoid(o_raw) * c / n
        outs.append(h)
    return torch.stack(outs, 1)


def slstm_inputs(scale=1.0, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    wx = torch.randn(2, 11, 4, 8, generator=g, dtype=dtype) * scale
    recurrent = torch.randn(4, 2, 4, 4, generator=g, dtype=dtype) * 0.5
    bias = torch.randn(4, 8, generator=g, dtype=dtype)
    return wx, recurrent, bias


def test_stabilized_slstm_equals_the_textbook_recurrence():
    wx, recurrent, bias = slstm_inputs()
    h, state = slstm_scan(wx, recurrent, bias)
    torch.testing.assert_close(h, textbook_slstm(wx, recurrent, bias), rtol=1e-10, atol=1e-10)
    assert (state.n >= 1).all()  # the stabilized normalizer never falls below 1


def test_slstm_on_inputs_scaled_by_1e3_is_finite_where_the_textbook_form_overflows():
    wx, recurrent, bias = slstm_inputs(scale=1e3, dtype=torch.float32)
    assert not torch.isfinite(textbook_slstm(wx, recurrent, bias)).all()  # exp(1000) = inf
    wx.requires_grad_()
    h, state = slstm_scan(wx, recurrent, bias)
    h.sum().backward()
    assert torch.isfinite(h).all() and torch.isfinite(wx.grad).all()
    assert (state.m > 100).any()  # the stabilizer absorbed the huge input-gate pre-activations
    # the whole layer too (convolution, gates, group norm), parameters' gradients included
    torch.manual_seed(0)
    layer = SLSTMLayer(16, n_heads=4)
    with torch.no_grad():
        layer.recurrent.normal_(0, 0.3)
    x = (torch.randn(2, 9, 16) * 1e3).requires_grad_()
    y = layer(x)
    y.square().sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())


def test_slstm_recurrence_is_block_diagonal_per_head():
    wx, recurrent, bias = slstm_inputs()
    h, _ = slstm_scan(wx, recurrent, bias)
    changed = wx.clone()
    changed[:, :5, :, 4:] += 3.0  # head 1's features, early steps
    h2, _ = slstm_scan(changed, recurrent, bias)
    torch.testing.assert_close(h2[..., :4], h[..., :4])  # head 0 never hears of it
    assert not torch.allclose(h2[:, 5:, 4:], h[:, 5:, 4:])  # head 1 remembers it through its own recurrence
    assert SLSTMLayer(16, n_heads=4).recurrent.shape == (4, 4, 4, 4)  # (gate, head, in, out): no cross-head weights


def mlstm_inputs(dtype, i_scale, f_shift, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, 3, 16, 8, generator=g, dtype=dtype) for _ in range(3))
    i_pre = torch.randn(2, 3, 16, generator=g, dtype=dtype) * i_scale
    f_pre = f_shift + torch.randn(2, 3, 16, generator=g, dtype=dtype) * i_scale
    return [t.requires_grad_() for t in (q, k, v, i_pre, f_pre)]


def assert_close_to_scale(got, want, tol):
    """``max |got - want| <= tol * max |want|``: float32 agreement up to rounding at the tensor's scale."""
    assert (got - want).abs().max() <= tol * want.abs().max(), ((got - want).abs().max(), want.abs().max())


@pytest.mark.parametrize("dtype, i_scale, f_shift, tol", [
    (torch.float32, 1.0, 3.0, 1e-5),   # gates as initialized (forget bias 3..6)
    (torch.float64, 5.0, 0.0, 1e-9),   # strong, erratic gates: the two forms still agree
])
def test_mlstm_parallel_form_equals_recurrent_form(dtype, i_scale, f_shift, tol):
    args = mlstm_inputs(dtype, i_scale, f_shift)
    par, rec = mlstm_parallel(*args), mlstm_recurrent(*args)
    assert_close_to_scale(par, rec, tol)
    g = torch.randn_like(par)
    for x, y in zip(torch.autograd.grad((par * g).sum(), args), torch.autograd.grad((rec * g).sum(), args)):
        assert_close_to_scale(x, y, tol)


def test_both_forms_are_the_papers_matrix_memory_recurrence():
    # C_t = f_t C_{t-1} + i_t v_t k_tᵀ, n_t = f_t n_{t-1} + i_t k_t, h_t = C_t q_t / max(|n_tᵀ q_t|, 1),
    # i = exp(ĩ), f = σ(f̃), k scaled by 1/sqrt(d): written out without the stabilizer
    q, k, v, i_pre, f_pre = (t.detach() for t in mlstm_inputs(torch.float64, 1.0, 0.0))
    d = q.shape[-1]
    mem, nrm, outs = 0, 0, []
    for t in range(q.shape[-2]):
        i, f = torch.exp(i_pre[..., t, None]), torch.sigmoid(f_pre[..., t, None])
        kt = k[..., t, :] / d ** 0.5
        mem = f[..., None] * mem + i[..., None] * v[..., t, :, None] * kt[..., None, :]
        nrm = f * nrm + i * kt
        den = torch.clamp((nrm * q[..., t, :]).sum(-1, keepdim=True).abs(), min=1.0)
        outs.append((mem @ q[..., t, :, None])[..., 0] / den)
    want = torch.stack(outs, -2)
    torch.testing.assert_close(mlstm_recurrent(q, k, v, i_pre, f_pre, eps=0.0), want, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(mlstm_parallel(q, k, v, i_pre, f_pre, eps=0.0), want, rtol=1e-9, atol=1e-9)


def test_mlstm_layer_trains_in_parallel_form_and_infers_in_recurrent_form():
    torch.manual_seed(0)
    layer = MLSTMLayer(16, n_heads=4)
    with torch.no_grad():
        layer.igate.weight.normal_(0, 0.1)
        layer.fgate.weight.normal_(0, 0.1)
    x = torch.randn(2, 10, 16)
    train = layer(x)
    with torch.no_grad():
        infer = layer(x)
    torch.testing.assert_close(infer, train, rtol=1e-5, atol=1e-5)
    x2 = x.clone()
    x2[:, 6:] += 1.0
    torch.testing.assert_close(layer(x2)[:, :6], train[:, :6])  # causal along the sequence


def net(n_vars=5, **kw):
    """A small XLSTMTime whose linear maps are random (at their mean init every token would be the bias:
    the mean of an instance-normalized window is zero)."""
    torch.manual_seed(0)
    model = XLSTMTime(**{"n_vars": n_vars, "lookback": 48, "horizon": 12, "d_model": 16, "e_layers": 2, "n_heads": 2,
                         **kw}).eval()
    with torch.no_grad():
        model.linear_seasonal.weight.normal_(0, 0.2)
        model.linear_trend.weight.normal_(0, 0.2)
    return model


@pytest.mark.parametrize("cell", ["slstm", "mlstm"])
def test_tokens_are_variates_and_the_recurrence_runs_in_column_order(cell):
    model = net(cell=cell)
    x = torch.randn(2, 48, 5)
    y = x.clone()
    y[..., 3] += torch.randn(2, 48)
    a, b = model(x), model(y)
    torch.testing.assert_close(a[..., :3], b[..., :3])  # earlier columns never see a later one
    assert not torch.allclose(a[..., 4], b[..., 4])     # a later column does


def test_decomposition_linear_part_starts_as_the_window_mean():
    torch.manual_seed(0)
    model = XLSTMTime(n_vars=5, lookback=48, horizon=12, d_model=16, e_layers=1, n_heads=2)
    x = torch.randn(2, 48, 5)
    seasonal, trend = model.decomposition(x)
    mean = x.mean(1)
    out = model.linear_seasonal(seasonal.transpose(1, 2)) + model.linear_trend(trend.transpose(1, 2))
    bias = model.linear_seasonal.bias + model.linear_trend.bias
    torch.testing.assert_close(out - bias, mean[..., None].expand(-1, -1, 12), rtol=1e-5, atol=1e-5)


def test_instance_normalization_wraps_the_whole_and_outputs_broadcast():
    model = net()
    x = torch.randn(2, 48, 5)
    torch.testing.assert_close(model(x * 10 + 3), model(x) * 10 + 3, rtol=1e-4, atol=1e-3)
    assert net(n_outputs=3)(x).shape == (2, 12, 5, 3)


def test_auto_cell_follows_the_papers_small_and_large_data_rule():
    assert choose_cell("auto", 7) == "slstm" and choose_cell("auto", 21) == "slstm"
    assert choose_cell("auto", 321) == "mlstm" and choose_cell("auto", MLSTM_MIN_VARS) == "mlstm"
    assert choose_cell("mlstm", 7) == "mlstm"
    assert isinstance(net(n_vars=7).xlstm.blocks[0], SLSTMBlock)
    assert isinstance(net(n_vars=70).xlstm.blocks[0], MLSTMBlock)


def test_bad_cell_is_a_config_error(synthetic):
    with pytest.raises(ConfigError, match="cell='gru' is not supported"):
        tiny("xlstmtime", cell="gru").fit(synthetic)


def test_estimator_defaults_are_the_reference_settings():
    est = XLSTMTimeForecaster()
    assert (est.d_model, est.e_layers, est.n_heads, est.conv_kernel, est.moving_avg, est.cell) == (256, 3, 4, 4, 25, "auto")


needs_xlstm = pytest.mark.skipif(importlib.util.find_spec("xlstm") is None,
                                 reason="the optional `xlstm` package (NX-AI's reference) is not installed")


@needs_xlstm
def test_mlstm_matches_the_xlstm_package():
    from xlstm.blocks.mlstm.backends import parallel_stabilized_simple

    q, k, v, i_pre, f_pre = (t.detach() for t in mlstm_inputs(torch.float64, 2.0, 1.0))
    theirs = parallel_stabilized_simple(q, k, v, i_pre[..., None], f_pre[..., None])
    torch.testing.assert_close(mlstm_parallel(q, k, v, i_pre, f_pre), theirs, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(mlstm_recurrent(q, k, v, i_pre, f_pre), theirs, rtol=1e-9, atol=1e-9)


@needs_xlstm
def test_slstm_matches_the_xlstm_package_vanilla_backend():
    from einops import rearrange
    from xlstm.blocks.slstm.src.vanilla import slstm_forward, slstm_pointwise_function_registry

    wx, recurrent, bias = slstm_inputs(scale=3.0)
    ours, _ = slstm_scan(wx, recurrent, bias)
    batch, _, _, d = wx.shape
    states = wx.new_zeros(4, batch, d)
    theirs = slstm_forward(rearrange(wx, "b s g d -> s b (g d)"), states, rearrange(recurrent, "g h i o -> h (g o) i"),
                           bias.reshape(-1), slstm_pointwise_function_registry["slstm"])[0][0, 1:]
    torch.testing.assert_close(ours, rearrange(theirs, "s b d -> b s d"), rtol=1e-9, atol=1e-9)
