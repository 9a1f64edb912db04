"""Mamba (S-Mamba) forecaster."""

from __future__ import annotations

from ..base import COMMON_PARAMS_DOC, BaseForecaster, assign_params, check_flag
from ..errors import ConfigError, require
from ..nn.layers.ssm import FUSED_KERNEL_MODULE, SCANS
from ..nn.mamba import SMamba


class MambaForecaster(BaseForecaster):
    """Mamba (Gu & Dao, 2023) as S-Mamba (Wang et al., 2024): bidirectional selective SSMs over variate tokens.

    Design choice (S-Mamba's): each variate's whole lookback is one token, and the Mamba layers scan
    across the variates in both directions; a feed-forward network per token follows, and a linear
    projection maps each token to the horizon. Instance normalization wraps the whole.

    Model parameters:
        d_model: token width. d_state: SSM state size N. d_conv: Mamba's causal convolution width.
        expand: Mamba's inner width factor. e_layers: bidirectional Mamba layers. d_ff: feed-forward width.
        dropout: dropout rate. activation: "gelu" or "relu". use_norm: instance normalization.
        use_time_features: add the calendar features as extra tokens, as the reference code does.
        horizon_marks: embed each calendar or future-covariate token over the lookback and the horizon, with
            a projection of its own (True), or over the lookback alone through the variates' projection,
            as S-Mamba's code does (False, the default: on ETTh1-720 it forecast better, 0.510 against
            0.527 over three seeds; future covariates still reach each step through the covariate head).
        scan: "auto" (mamba_ssm's fused CUDA kernel when the extra ``tsformer[mamba-cuda]`` is installed and
            the tensors are on a GPU, the pure-PyTorch scan otherwise), "torch" (always the PyTorch scan: a
            log-depth parallel scan while training, the recurrent form at inference), or "cuda" (require
            the kernel; CPU tensors, e.g. ``predict`` after a GPU fit, still use the PyTorch scan).
    """

    name = "mamba"
    tags = {**BaseForecaster.tags, "uses_time_features": True}
    #: model files written before ``horizon_marks`` existed embedded the marks over the horizon
    params_before_they_existed = {"horizon_marks": True}

    def __init__(self, *, lookback=96, horizon=24, d_model=512, d_state=32, d_conv=2, expand=1, e_layers=2, d_ff=512,
                 dropout=0.1, activation="gelu", use_norm=True, use_time_features=True, horizon_marks=False,
                 scan="auto", target=None, future_covariates=None, time_col=None, freq=None, fill=None,
                 series_mode="auto", val_size=0.2, window_step=1, batch_size=32, max_epochs=10, patience=3,
                 learning_rate=1e-4, lr_schedule="halve", loss="mse", quantiles=None, gradient_clip_val=None,
                 accelerator="auto", devices=1, precision="32-true", compile=False, activation_checkpointing=False,
                 random_state=None, verbose=False, trainer_kwargs=None):
        assign_params(self, locals())

    def _build_network(self, *, n_vars, n_marks, n_outputs=1):
        check_flag(self, "horizon_marks")
        if self.scan not in SCANS:
            raise ConfigError(f"scan={self.scan!r} is not supported; use one of {SCANS}")
        if self.scan == "cuda":
            require(FUSED_KERNEL_MODULE, "mamba-cuda", "scan='cuda' (mamba_ssm's fused selective-scan kernel)")
        return SMamba(
            n_vars=n_vars, lookback=self.lookback, horizon=self.horizon,
            n_marks=n_marks if self.use_time_features else 0, d_model=self.d_model, d_state=self.d_state,
            d_conv=self.d_conv, expand=self.expand, e_layers=self.e_layers, d_ff=self.d_ff, dropout=self.dropout,
            activation=self.activation, use_norm=self.use_norm, horizon_marks=self.horizon_marks, scan=self.scan,
            n_outputs=n_outputs,
        )

    @classmethod
    def search_space(cls, trial) -> dict:
        d_model = trial.suggest_categorical("d_model", [64, 128, 256, 512])
        return {
            "d_model": d_model,
            "d_ff": d_model * trial.suggest_categorical("d_ff_ratio", [1, 2]),  # same choices every trial
            "d_state": trial.suggest_categorical("d_state", [2, 4, 8, 16, 32]),
            "e_layers": trial.suggest_int("e_layers", 1, 4),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
            "learning_rate": trial.suggest_float("learning_rate", 1e-5, 1e-2, log=True),
        }

    @classmethod
    def test_params(cls) -> dict:
        return {"d_model": 16, "d_state": 4, "e_layers": 1, "d_ff": 32}


MambaForecaster.__doc__ += COMMON_PARAMS_DOC
