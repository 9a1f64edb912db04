"""Pure-PyTorch forecasting networks: ``(batch, lookback, n_vars) -> (batch, horizon, n_vars)``.

Every network takes keyword-only size arguments and is called as
``net(x, x_mark=None, y_mark=None)`` with ``x (B, L, C)``, calendar features of the lookback
``x_mark (B, L, F)`` and of the horizon ``y_mark (B, H, F)``; models that do not use calendar
features ignore them.
"""

from .itransformer import ITransformer

__all__ = ["ITransformer"]
