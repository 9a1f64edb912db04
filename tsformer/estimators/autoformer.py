"""Autoformer forecaster."""

from __future__ import annotations

from ..base import COMMON_PARAMS_DOC, BaseForecaster, assign_params, label_length
from ..nn.autoformer import Autoformer


class AutoformerForecaster(BaseForecaster):
    """Autoformer (Wu et al., NeurIPS 2021): decomposition layers, Auto-Correlation, progressive trend accumulation.

    Model parameters (defaults: the paper's ETTh1 settings):
        d_model: model width. n_heads: Auto-Correlation heads (must divide d_model).
        e_layers: encoder layers. d_layers: decoder layers. d_ff: feed-forward width.
        dropout: dropout rate. activation: "gelu" or "relu".
        factor: c in k = floor(c ln L), the number of time delays aggregated (3 in the ETTh1 script).
        moving_avg: window of the moving-average series decomposition.
        label_len: the decoder's start token, the last label_len rows of the lookback (an int), or a
            fraction of the lookback (a float in [0, 1]; the default 0.5 is the papers' 48 rows at lookback
            96 and stays valid for any lookback); the decoder input is built inside the network.
        use_norm: instance normalization around the network (not in the paper; off by default).
    """

    name = "autoformer"
    tags = {**BaseForecaster.tags, "uses_time_features": True}

    def __init__(self, *, lookback=96, horizon=24, d_model=512, n_heads=8, e_layers=2, d_layers=1, d_ff=2048,
                 dropout=0.05, factor=3, moving_avg=25, label_len=0.5, activation="gelu", use_norm=False, target=None,
                 future_covariates=None, time_col=None, freq=None, fill=None, series_mode="auto", val_size=0.2,
                 window_step=1, batch_size=32, max_epochs=10, patience=3, learning_rate=1e-4, lr_schedule="halve",
                 loss="mse", quantiles=None, gradient_clip_val=None, accelerator="auto", devices=1,
                 precision="32-true", compile=False, activation_checkpointing=False, random_state=None, verbose=False,
                 trainer_kwargs=None):
        assign_params(self, locals())

    def _build_network(self, *, n_vars, n_marks, n_outputs=1):
        return Autoformer(
            n_vars=n_vars, lookback=self.lookback, horizon=self.horizon, n_marks=n_marks,
            label_len=label_length(self.label_len, self.lookback), d_model=self.d_model, n_heads=self.n_heads,
            e_layers=self.e_layers, d_layers=self.d_layers, d_ff=self.d_ff, dropout=self.dropout, factor=self.factor,
            moving_avg=self.moving_avg, activation=self.activation, use_norm=self.use_norm, n_outputs=n_outputs,
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
            "factor": trial.suggest_int("factor", 1, 5),
            "moving_avg": trial.suggest_categorical("moving_avg", [13, 25, 49]),
            "label_len": trial.suggest_categorical("label_len", [0.25, 0.5, 1.0]),  # of the lookback
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
            "learning_rate": trial.suggest_float("learning_rate", 1e-5, 1e-2, log=True),
        }

    @classmethod
    def test_params(cls) -> dict:
        return {"d_model": 16, "n_heads": 2, "e_layers": 1, "d_layers": 1, "d_ff": 32, "label_len": 0.5}


AutoformerForecaster.__doc__ += COMMON_PARAMS_DOC
