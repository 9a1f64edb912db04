"""Mamba's mechanism: the selective scan (parallel = recurrent = a plain loop), causality, the block's
parameter names, the fused-kernel dispatch, and S-Mamba's bidirectional variate mixing."""

from __future__ import annotations

import sys
import types

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from tsformer import MambaForecaster
from tsformer.errors import ConfigError, MissingDependencyError
from tsformer.nn import SMamba
from tsformer.nn.layers import ssm
from tsformer.nn.layers.ssm import MambaBlock, linear_scan, resolve_scan, selective_scan

from .conftest import tiny


def loop_scan(a, b, h0=None):
    """``h_t = a_t h_{t-1} + b_t`` along dim 0, one step at a time."""
    h = torch.zeros_like(b[0]) if h0 is None else h0
    out = []
    for t in range(a.shape[0]):
        h = a[t] * h + b[t]
        out.append(h)
    return torch.stack(out)


def loop_selective_scan(u, delta, A, B, C, D, z, delta_bias):
    """The selective scan written out step by step (mamba_ssm's reference semantics)."""
    delta = F.softplus(delta + delta_bias[:, None])
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for t in range(u.shape[2]):
        a_bar = torch.exp(delta[:, :, t, None] * A)                         # (batch, D, N)
        b_bar_u = delta[:, :, t, None] * B[:, None, :, t] * u[:, :, t, None]
        h = a_bar * h + b_bar_u
        ys.append((h * C[:, None, :, t]).sum(-1) + D * u[:, :, t])
    return torch.stack(ys, dim=-1) * F.silu(z)


def random_scan_inputs(batch=2, d=5, n=4, length=37, seed=0):
    g = torch.Generator().manual_seed(seed)
    u, delta, z = (torch.randn(batch, d, length, generator=g) for _ in range(3))
    A = -torch.rand(d, n, generator=g) * 2 - 0.1
    B, C = torch.randn(batch, n, length, generator=g), torch.randn(batch, n, length, generator=g)
    D, bias = torch.randn(d, generator=g), torch.randn(d, generator=g) * 0.5
    return [t.requires_grad_() for t in (u, delta, A, B, C, D, z, bias)]


@pytest.mark.parametrize("length", [1, 2, 7, 64, 257])
def test_parallel_linear_scan_equals_the_loop_outputs_and_gradients(length):
    torch.manual_seed(length)
    a = torch.rand(length, 3, 4).requires_grad_()
    b = torch.randn(length, 3, 4).requires_grad_()
    h0 = torch.randn(3, 4).requires_grad_()
    got, want = linear_scan(a, b, h0), loop_scan(a, b, h0)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(want)
    for x, y in zip(torch.autograd.grad((got * g).sum(), (a, b, h0)), torch.autograd.grad((want * g).sum(), (a, b, h0))):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-5)
    # time along another axis
    torch.testing.assert_close(linear_scan(a.transpose(0, 1), b.transpose(0, 1), dim=1), loop_scan(a, b).transpose(0, 1),
                               rtol=1e-5, atol=1e-5)


def test_selective_scan_parallel_and_recurrent_equal_the_loop():
    args = random_scan_inputs()
    u, delta, A, B, C, D, z, bias = args
    want = loop_selective_scan(*args)
    kw = dict(D=D, z=z, delta_bias=bias, delta_softplus=True)
    parallel = selective_scan(u, delta, A, B, C, mode="parallel", **kw)
    torch.testing.assert_close(parallel, want, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(want)
    for x, y in zip(torch.autograd.grad((parallel * g).sum(), args), torch.autograd.grad((want * g).sum(), args)):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(selective_scan(u, delta, A, B, C, mode="recurrent", **kw), want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="mode"):
        selective_scan(u, delta, A, B, C, mode="fast")


@pytest.mark.parametrize("chunk", [1, 3, 36, 37])
def test_the_parallel_scan_over_chunks_of_time_equals_the_loop(chunk, monkeypatch):
    """On a CPU the parallel form runs chunk after chunk of the time axis (sized to stay in the cache),
    carrying the state across: the same outputs and gradients as one pass, whatever the chunk size."""
    args = random_scan_inputs(length=37)
    u, delta, A, B, C, D, z, bias = args
    step_bytes = u.shape[0] * u.shape[1] * A.shape[1] * u.element_size()
    monkeypatch.setattr(ssm, "CPU_CHUNK_BYTES", chunk * step_bytes)
    want = loop_selective_scan(*args)
    got = selective_scan(u, delta, A, B, C, D=D, z=z, delta_bias=bias, delta_softplus=True, mode="parallel")
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(want)
    for x, y in zip(torch.autograd.grad((got * g).sum(), args), torch.autograd.grad((want * g).sum(), args)):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-5)


def block(**kw):
    torch.manual_seed(0)
    return MambaBlock(8, **{"d_state": 4, "d_conv": 3, "expand": 2, **kw})


def test_block_is_causal_along_its_sequence_axis():
    mamba = block()
    x = torch.randn(2, 12, 8)
    y = x.clone()
    y[:, 7:] += torch.randn(2, 5, 8)
    for grad in (True, False):  # parallel scan (training) and recurrent form (inference)
        with torch.set_grad_enabled(grad):
            a, b = mamba(x), mamba(y)
        torch.testing.assert_close(a[:, :7], b[:, :7])
        assert not torch.allclose(a[:, 7:], b[:, 7:])


def test_training_and_inference_forms_and_the_token_by_token_step_agree():
    mamba = block()
    x = torch.randn(2, 15, 8)
    parallel = mamba(x)                                  # gradients on: the log-depth scan
    with torch.no_grad():
        recurrent = mamba(x)                             # inference: the recurrent form
        state, steps = None, []
        for t in range(x.shape[1]):
            out, state = mamba.step(x[:, t], state)
            steps.append(out)
    torch.testing.assert_close(recurrent, parallel, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.stack(steps, 1), parallel, rtol=1e-5, atol=1e-5)
    assert state.conv.shape == (2, 16, 3) and state.ssm.shape == (2, 16, 4)


def test_block_has_mamba_ssm_parameter_names_and_initialization():
    mamba = block(d_state=6)
    shapes = {k: tuple(v.shape) for k, v in mamba.state_dict().items()}
    assert shapes == {
        "in_proj.weight": (32, 8), "conv1d.weight": (16, 1, 3), "conv1d.bias": (16,), "x_proj.weight": (1 + 12, 16),
        "dt_proj.weight": (16, 1), "dt_proj.bias": (16,), "A_log": (16, 6), "D": (16,), "out_proj.weight": (8, 16),
    }
    torch.testing.assert_close(-torch.exp(mamba.A_log[0]), -torch.arange(1.0, 7.0))  # A = -exp(A_log) = -(1..N)
    dt = F.softplus(mamba.dt_proj.bias)
    assert ((dt >= 1e-3 - 1e-7) & (dt <= 0.1 + 1e-7)).all()


def test_delta_b_c_depend_on_the_input():
    # the selection mechanism: Δ (how fast the state forgets), B and C are functions of each token
    mamba = block()
    u = torch.randn(1, 5, 16)
    delta, b, c = mamba._scan_inputs(u)
    delta2, b2, c2 = mamba._scan_inputs(u * 2)
    assert not torch.allclose(delta, delta2) and not torch.allclose(b, b2) and not torch.allclose(c, c2)


# ------------------------------------------------------------------------------- fused-kernel dispatch

@pytest.fixture
def kernel_cache():
    ssm.fused_selective_scan.cache_clear()
    yield
    ssm.fused_selective_scan.cache_clear()


@pytest.fixture
def fake_mamba_ssm(monkeypatch, kernel_cache):
    """Install a stand-in for mamba_ssm whose kernel records its calls and computes with the torch scan."""
    calls = []

    def selective_scan_fn(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                          return_last_state=False):
        calls.append(dict(u=u.shape, delta=delta.shape, A=A.shape, B=B.shape, C=C.shape, D=D.shape, z=z.shape,
                          delta_bias=delta_bias.shape, delta_softplus=delta_softplus, dtype=A.dtype))
        return selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus)

    module = types.ModuleType(ssm.FUSED_KERNEL_MODULE)
    module.selective_scan_fn = selective_scan_fn
    monkeypatch.setitem(sys.modules, ssm.FUSED_KERNEL_MODULE, module)
    return calls


@pytest.fixture
def no_mamba_ssm(monkeypatch, kernel_cache):
    monkeypatch.setitem(sys.modules, ssm.FUSED_KERNEL_MODULE, None)  # makes the import fail


def test_auto_uses_the_kernel_only_for_cuda_tensors_when_installed(fake_mamba_ssm):
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert resolve_scan("auto", cuda) == "cuda" and resolve_scan("cuda", cuda) == "cuda"
    assert resolve_scan("auto", cpu) == "torch" and resolve_scan("cuda", cpu) == "torch"
    assert resolve_scan("torch", cuda) == "torch"
    with pytest.raises(ValueError, match="scan must be one of"):
        resolve_scan("triton", cpu)


def test_without_the_package_auto_falls_back_and_cuda_is_a_clear_error(no_mamba_ssm, synthetic):
    assert resolve_scan("auto", torch.device("cuda")) == "torch"
    with pytest.raises(ImportError, match=r"tsformer\[mamba-cuda\]"):
        resolve_scan("cuda", torch.device("cuda"))
    with pytest.raises(ImportError, match=r"tsformer\[mamba-cuda\]"):
        MambaBlock(8, scan="cuda")
    with pytest.raises(MissingDependencyError, match=r"pip install tsformer\[mamba-cuda\]"):
        tiny("mamba", scan="cuda").fit(synthetic)
    MambaBlock(8, scan="auto")  # the default never needs the package


def test_the_block_hands_mamba_ssm_layouts_to_the_kernel(fake_mamba_ssm, monkeypatch):
    mamba = block()
    x = torch.randn(2, 9, 8)
    want = mamba(x)
    monkeypatch.setattr(ssm, "resolve_scan", lambda scan, device: "cuda")  # as if x were on a GPU
    got = mamba(x)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert fake_mamba_ssm == [dict(u=(2, 16, 9), delta=(2, 16, 9), A=(16, 4), B=(2, 4, 9), C=(2, 4, 9), D=(16,),
                                   z=(2, 16, 9), delta_bias=(16,), delta_softplus=True, dtype=torch.float32)]


def test_unknown_scan_is_a_config_error(synthetic):
    with pytest.raises(ConfigError, match="scan='fast' is not supported"):
        tiny("mamba", scan="fast").fit(synthetic)


# ------------------------------------------------------------------------------- S-Mamba


def net(**kw):
    torch.manual_seed(0)
    return SMamba(**{"n_vars": 5, "lookback": 24, "horizon": 6, "d_model": 16, "d_state": 4, "e_layers": 2,
                     "d_ff": 32, "dropout": 0.0, **kw}).eval()


def test_bidirectional_layers_let_every_variate_see_every_other():
    # one causal Mamba over variate tokens would hide later columns from earlier ones; S-Mamba's
    # second, reversed Mamba lets the first variate's forecast depend on the last variate's history
    model = net()
    x = torch.randn(1, 24, 5)
    y = x.clone()
    y[..., 4] += torch.randn(24)
    assert not torch.allclose(model(x)[..., 0], model(y)[..., 0])
    layer = model.encoder.layers[0]
    tokens = torch.randn(1, 5, 16)
    changed = tokens.clone()
    changed[:, 4] += 1.0
    assert not torch.allclose(layer(tokens)[:, 0], layer(changed)[:, 0])
    torch.testing.assert_close(layer.forward_mamba(tokens)[:, :4], layer.forward_mamba(changed)[:, :4])


def test_shapes_marks_outputs_and_instance_normalization():
    model = net()
    x = torch.randn(3, 24, 5)
    assert model(x).shape == (3, 6, 5)
    assert net(n_marks=4)(x, torch.randn(3, 24, 4)).shape == (3, 6, 5)
    torch.testing.assert_close(model(x * 10 + 3), model(x) * 10 + 3, rtol=1e-4, atol=1e-3)
    y = net(n_outputs=3)(x)
    assert y.shape == (3, 6, 5, 3)


def test_estimator_defaults_are_the_reference_settings():
    est = MambaForecaster()
    assert (est.d_model, est.d_ff, est.e_layers, est.d_conv, est.expand, est.d_state) == (512, 512, 2, 2, 1, 32)
    assert est.scan == "auto"


def test_marks_are_embedded_over_the_lookback_through_the_variates_projection_unless_horizon_marks():
    x, x_mark, y_mark = torch.randn(2, 24, 5), torch.randn(2, 24, 4), torch.randn(2, 6, 4)
    other_future = torch.randn(2, 6, 4)
    model = net(n_marks=4)  # S-Mamba's code: each mark's lookback through the same projection as a variate's
    assert model.embedding.mark_proj is None
    torch.testing.assert_close(model(x, x_mark, y_mark), model(x, x_mark, other_future))
    assert not torch.allclose(model(x, x_mark, y_mark), model(x, x_mark + 1.0, y_mark))
    tokens = model.embedding(x, x_mark)
    torch.testing.assert_close(tokens[:, 5:], model.embedding.proj(x_mark.transpose(1, 2)))
    wide = net(n_marks=4, horizon_marks=True)  # a projection of its own over lookback + horizon
    assert wide.embedding.mark_proj.in_features == 24 + 6
    assert not torch.allclose(wide(x, x_mark, y_mark), wide(x, x_mark, other_future))


def test_horizon_marks_is_checked_and_older_model_files_keep_their_horizon_marks(synthetic, tmp_path):
    from tsformer import load
    from tsformer.modelfile import read_model_file, write_model_file

    assert MambaForecaster().horizon_marks is False
    with pytest.raises(ConfigError, match="horizon_marks must be True or False"):
        tiny("mamba", horizon_marks="no").fit(synthetic)
    est = tiny("mamba", horizon_marks=True).fit(synthetic)
    est.save(tmp_path / "m.tsf")
    config, tensors = read_model_file(tmp_path / "m.tsf")
    del config["params"]["horizon_marks"]  # as written before the parameter existed
    write_model_file(tmp_path / "old.tsf", config, tensors)
    old = load(tmp_path / "old.tsf")
    assert old.horizon_marks is True and old.network_.embedding.mark_proj is not None
    pd.testing.assert_frame_equal(old.predict(), est.predict())
