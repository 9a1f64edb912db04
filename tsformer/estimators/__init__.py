"""One thin estimator class per model: explicit parameters, its network, its search space."""

from .autoformer import AutoformerForecaster
from .etsformer import ETSformerForecaster
from .informer import InformerForecaster
from .itransformer import ITransformerForecaster
from .mamba import MambaForecaster
from .xlstm_time import XLSTMTimeForecaster

__all__ = ["ITransformerForecaster"]
__all__ += ["ETSformerForecaster", "XLSTMTimeForecaster", "MambaForecaster"]
__all__ += ["InformerForecaster", "AutoformerForecaster"]
