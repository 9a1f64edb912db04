"""iTransformer's mechanism: inverted variate tokens, attention across variates."""

from __future__ import annotations

import torch

from tsformer.nn import ITransformer


def net(**kw):
    torch.manual_seed(0)
    return ITransformer(**{"n_vars": 5, "lookback": 24, "horizon": 6, "d_model": 16, "n_heads": 2, "e_layers": 2,
                           "d_ff": 32, "dropout": 0.0, **kw}).eval()


def test_output_shape():
    assert net()(torch.randn(3, 24, 5)).shape == (3, 6, 5)
    marks = torch.randn(3, 24, 4)
    assert net(n_marks=4)(torch.randn(3, 24, 5), marks).shape == (3, 6, 5)


def test_permuting_variates_permutes_the_forecast():
    model = net()
    x = torch.randn(2, 24, 5)
    perm = torch.tensor([3, 0, 4, 1, 2])
    torch.testing.assert_close(model(x[..., perm]), model(x)[..., perm], rtol=1e-4, atol=1e-5)


def test_attention_mixes_variates():
    # a change in one variate's history reaches another variate's forecast only through attention
    model = net()
    x = torch.randn(1, 24, 5)
    y = x.clone()
    y[..., 0] += torch.randn(24)
    assert not torch.allclose(model(x)[..., 1], model(y)[..., 1])
    one_token_model = net(n_vars=1)
    assert one_token_model(x[..., :1]).shape == (1, 6, 1)


def test_instance_normalization_makes_it_scale_equivariant():
    model = net()
    x = torch.randn(2, 24, 5)
    torch.testing.assert_close(model(x * 10 + 3), model(x) * 10 + 3, rtol=1e-4, atol=1e-3)


def test_several_outputs_per_step_are_each_denormalized():
    model = net(n_outputs=3)
    x = torch.randn(2, 24, 5)
    y = model(x)
    assert y.shape == (2, 6, 5, 3)
    torch.testing.assert_close(model(x * 10 + 3), y * 10 + 3, rtol=1e-4, atol=1e-3)
