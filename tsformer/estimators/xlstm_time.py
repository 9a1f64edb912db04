"""xLSTMTime forecaster."""

from __future__ import annotations

from ..base import COMMON_PARAMS_DOC, BaseForecaster, assign_params
from ..errors import ConfigError
from ..nn.xlstm_time import CELLS, XLSTMTime


class XLSTMTimeForecaster(BaseForecaster):
    """xLSTMTime (Alharthi & Mahmood, 2024): decomposition + linear, then sLSTM or mLSTM blocks over variate tokens.

    Model parameters:
        d_model: token width. e_layers: xLSTM blocks. n_heads: sLSTM / mLSTM heads (must divide d_model).
        cell: "slstm", "mlstm" or "auto". The paper uses the sLSTM for small data sets and the mLSTM for
            large ones; "auto" decides on the number of variates the model is fitted on (which
            ``_build_network`` receives; the number of training rows is not known there): the mLSTM from
            ``tsformer.nn.xlstm_time.MLSTM_MIN_VARS`` = 64 variates on (the paper's large sets have 170 to
            883, its small ones at most 21), the sLSTM below. A loaded model makes the same choice.
        conv_kernel: causal convolution width inside the blocks. ffn_factor: sLSTM block's MLP up-projection.
        moving_avg: decomposition kernel. dropout: inside the xLSTM blocks.
        batch_norm: batch normalization after the embedding (the paper's). use_norm: instance normalization.

    Token axis: the variates. Each variate's linear forecast (seasonal + trend, lookback -> horizon) is
    embedded as one token and the xLSTM recurrence runs across the variates in column order, as in the
    reference code. Calendar features are not used.
    """

    name = "xlstmtime"
    tags = {**BaseForecaster.tags, "uses_time_features": False}

    def __init__(self, *, lookback=96, horizon=24, d_model=256, e_layers=3, n_heads=4, cell="auto", conv_kernel=4,
                 ffn_factor=1.3, moving_avg=25, dropout=0.0, batch_norm=True, use_norm=True, target=None,
                 future_covariates=None, time_col=None, freq=None, fill=None, series_mode="auto", val_size=0.2,
                 window_step=1, batch_size=32, max_epochs=10, patience=3, learning_rate=1e-4, lr_schedule="halve",
                 loss="mse", quantiles=None, gradient_clip_val=None, accelerator="auto", devices=1,
                 precision="32-true", compile=False, activation_checkpointing=False, random_state=None, verbose=False,
                 trainer_kwargs=None):
        assign_params(self, locals())

    def _build_network(self, *, n_vars, n_marks, n_outputs=1):
        if self.cell not in CELLS:
            raise ConfigError(f"cell={self.cell!r} is not supported; use one of {CELLS}")
        return XLSTMTime(
            n_vars=n_vars, lookback=self.lookback, horizon=self.horizon, d_model=self.d_model,
            e_layers=self.e_layers, n_heads=self.n_heads, cell=self.cell, conv_kernel=self.conv_kernel,
            ffn_factor=self.ffn_factor, moving_avg=self.moving_avg, dropout=self.dropout,
            batch_norm=self.batch_norm, use_norm=self.use_norm, n_outputs=n_outputs,
        )

    @classmethod
    def search_space(cls, trial) -> dict:
        return {
            "d_model": trial.suggest_categorical("d_model", [64, 128, 256, 512]),
            "e_layers": trial.suggest_int("e_layers", 1, 4),
            "n_heads": trial.suggest_categorical("n_heads", [2, 4]),
            "cell": trial.suggest_categorical("cell", ["slstm", "mlstm"]),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
            "learning_rate": trial.suggest_float("learning_rate", 1e-5, 1e-2, log=True),
        }

    @classmethod
    def test_params(cls) -> dict:
        return {"d_model": 16, "e_layers": 1, "n_heads": 2}


XLSTMTimeForecaster.__doc__ += COMMON_PARAMS_DOC
