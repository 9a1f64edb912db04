"""One thin estimator class per model: explicit parameters, its network, its search space."""

from .etsformer import ETSformerForecaster
from .itransformer import ITransformerForecaster
from .mamba import MambaForecaster
from .xlstm_time import XLSTMTimeForecaster

__all__ = ["ITransformerForecaster"]
__all__ += ["ETSformerForecaster", "XLSTMTimeForecaster", "MambaForecaster"]
