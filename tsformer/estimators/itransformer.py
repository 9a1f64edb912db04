"""iTransformer forecaster."""

from __future__ import annotations

from ..base import COMMON_PARAMS_DOC, BaseForecaster, assign_params, check_flag
from ..nn.itransformer import ITransformer


class ITransformerForecaster(BaseForecaster):
    """iTransformer (Liu et al., ICLR 2024): attention across variate tokens, each token a whole lookback.

    Model parameters:
        d_model: token width. n_heads: attention heads (must divide d_model). e_layers: encoder layers.
        d_ff: feed-forward width. dropout: dropout rate. activation: "gelu" or "relu".
        use_norm: instance normalization (RevIN) around the network, as in the paper.
        use_time_features: add the calendar features as extra tokens, as the reference code does.
        horizon_marks: embed each calendar or future-covariate token over the lookback and the horizon, with
            a projection of its own (True, the default), or over the lookback alone through the variates'
            projection, as iTransformer's code does (False).
    """

    name = "itransformer"
    tags = {**BaseForecaster.tags, "uses_time_features": True}
    #: model files written before ``horizon_marks`` existed embedded the marks over the horizon
    params_before_they_existed = {"horizon_marks": True}

    def __init__(self, *, lookback=96, horizon=24, d_model=512, n_heads=8, e_layers=2, d_ff=512, dropout=0.1,
                 activation="gelu", use_norm=True, use_time_features=True, horizon_marks=True, target=None,
                 future_covariates=None, time_col=None, freq=None, fill=None, series_mode="auto", val_size=0.2,
                 window_step=1, batch_size=32,
                 max_epochs=10, patience=3, learning_rate=1e-4, lr_schedule="halve", loss="mse", quantiles=None,
                 gradient_clip_val=None, accelerator="auto", devices=1, precision="32-true", compile=False,
                 activation_checkpointing=False, random_state=None, verbose=False, trainer_kwargs=None):
        assign_params(self, locals())

    def _build_network(self, *, n_vars, n_marks, n_outputs=1):
        check_flag(self, "horizon_marks")
        return ITransformer(
            n_vars=n_vars, lookback=self.lookback, horizon=self.horizon,
            n_marks=n_marks if self.use_time_features else 0, d_model=self.d_model, n_heads=self.n_heads,
            e_layers=self.e_layers, d_ff=self.d_ff, dropout=self.dropout, activation=self.activation,
            use_norm=self.use_norm, horizon_marks=self.horizon_marks, n_outputs=n_outputs,
        )

    @classmethod
    def search_space(cls, trial) -> dict:
        d_model = trial.suggest_categorical("d_model", [64, 128, 256, 512])
        return {
            "d_model": d_model,
            # a ratio, not choices built from d_model: Optuna needs the same choices in every trial
            "d_ff": d_model * trial.suggest_categorical("d_ff_ratio", [1, 2, 4]),
            "n_heads": trial.suggest_categorical("n_heads", [4, 8]),
            "e_layers": trial.suggest_int("e_layers", 1, 4),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
            "learning_rate": trial.suggest_float("learning_rate", 1e-5, 1e-2, log=True),
        }

    @classmethod
    def test_params(cls) -> dict:
        return {"d_model": 16, "n_heads": 2, "e_layers": 1, "d_ff": 32}


ITransformerForecaster.__doc__ += COMMON_PARAMS_DOC
