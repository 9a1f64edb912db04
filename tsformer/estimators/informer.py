"""Informer forecaster."""

from __future__ import annotations

from ..base import COMMON_PARAMS_DOC, BaseForecaster, assign_params, label_length
from ..errors import ConfigError
from ..nn.informer import MIX, Informer


class InformerForecaster(BaseForecaster):
    """Informer (Zhou et al., AAAI 2021): ProbSparse attention, self-attention distilling, a generative decoder.

    Model parameters (defaults: the paper's ETTh1 settings):
        d_model: model width. n_heads: attention heads (must divide d_model).
        e_layers: encoder layers (distilling halves the sequence between them). d_layers: decoder layers.
        d_ff: feed-forward width. dropout: dropout rate. activation: "gelu" or "relu".
        factor: ProbSparse sampling factor c: u = c ln L_Q active queries, U = c ln L_K sampled keys.
        label_len: the decoder's start token, the last label_len rows of the lookback (an int), or a
            fraction of the lookback (a float in [0, 1]; the default 0.5 is the papers' 48 rows at lookback
            96 and stays valid for any lookback); the decoder input is built inside the network.
        distil: self-attention distilling between encoder layers.
        use_norm: instance normalization around the network (not in the paper; off by default).
        mix: the reference code's "mix attention" (each step of a ProbSparse self-attention's output holds a run of
            consecutive steps of one head): "all" (encoder and decoder; the code behind the published
            lookback-96 figures, Autoformer's and Time-Series-Library's Informer), "decoder" (Informer2020's
            default) or "none" (heads concatenated step by step).  "all" trains to a far lower ETTh1 loss than
            "none" (benchmarks/RESULTS.md).
    """

    name = "informer"
    tags = {**BaseForecaster.tags, "uses_time_features": True}
    # a file written before `mix` existed holds a network trained with the heads concatenated step by step
    params_before_they_existed = {"mix": "none"}

    def __init__(self, *, lookback=96, horizon=24, d_model=512, n_heads=8, e_layers=2, d_layers=1, d_ff=2048,
                 dropout=0.05, factor=5, label_len=0.5, activation="gelu", distil=True, use_norm=False, mix="all",
                 target=None,
                 future_covariates=None, time_col=None, freq=None, fill=None, series_mode="auto", val_size=0.2,
                 window_step=1, batch_size=32, max_epochs=10, patience=3, learning_rate=1e-4, lr_schedule="halve",
                 loss="mse", quantiles=None, gradient_clip_val=None, accelerator="auto", devices=1,
                 precision="32-true", compile=False, activation_checkpointing=False, random_state=None, verbose=False,
                 trainer_kwargs=None):
        assign_params(self, locals())

    def _build_network(self, *, n_vars, n_marks, n_outputs=1):
        if self.mix not in MIX:
            raise ConfigError(f"mix={self.mix!r} is not supported; use one of {MIX}")
        return Informer(
            n_vars=n_vars, lookback=self.lookback, horizon=self.horizon, n_marks=n_marks,
            label_len=label_length(self.label_len, self.lookback), d_model=self.d_model, n_heads=self.n_heads,
            e_layers=self.e_layers, d_layers=self.d_layers, d_ff=self.d_ff, dropout=self.dropout, factor=self.factor,
            activation=self.activation, distil=self.distil, use_norm=self.use_norm, mix=self.mix, n_outputs=n_outputs,
        )

    @classmethod
    def search_space(cls, trial) -> dict:
        d_model = trial.suggest_categorical("d_model", [64, 128, 256, 512])
        return {
            "d_model": d_model,
            "d_ff": d_model * trial.suggest_categorical("d_ff_ratio", [1, 2, 4]),  # same choices every trial
            "n_heads": trial.suggest_categorical("n_heads", [4, 8]),
            "e_layers": trial.suggest_int("e_layers", 1, 3),
            "d_layers": trial.suggest_int("d_layers", 1, 2),
            "factor": trial.suggest_int("factor", 3, 8),
            "label_len": trial.suggest_categorical("label_len", [0.25, 0.5, 1.0]),  # of the lookback
            "mix": trial.suggest_categorical("mix", list(MIX)),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
            "learning_rate": trial.suggest_float("learning_rate", 1e-5, 1e-2, log=True),
        }

    @classmethod
    def test_params(cls) -> dict:
        # instance normalization: the shared battery's synthetic data trend out of the training range, which
        # the paper's Informer cannot follow (tests/test_informer.py checks the paper's setting on level data)
        return {"d_model": 16, "n_heads": 2, "e_layers": 2, "d_layers": 1, "d_ff": 32, "label_len": 0.5,
                "use_norm": True}


InformerForecaster.__doc__ += COMMON_PARAMS_DOC
