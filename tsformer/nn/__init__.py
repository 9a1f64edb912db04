"""Pure-PyTorch forecasting networks: ``(batch, lookback, n_vars) -> (batch, horizon, n_vars)``.

Every network takes keyword-only size arguments and is called as
``net(x, x_mark=None, y_mark=None)`` with ``x (B, L, C)``, calendar features of the lookback
``x_mark (B, L, F)`` and of the horizon ``y_mark (B, H, F)``; models that do not use calendar
features ignore them.
"""

from .autoformer import Autoformer
from .etsformer import ETSformer
from .informer import Informer
from .itransformer import ITransformer
from .mamba import SMamba
from .xlstm_time import XLSTMTime

__all__ = ["ITransformer"]
__all__ += ["ETSformer", "XLSTMTime", "SMamba"]
__all__ += ["Informer", "Autoformer"]
