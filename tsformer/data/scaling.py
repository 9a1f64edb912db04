"""The package's one scaler: a per-column z-score fitted on training rows only.

Works on numpy arrays and torch tensors alike (statistics are kept as float64 numpy arrays and
converted to the input's type and device on use), so the same object scales a frame before
training and un-scales a network's output afterwards.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import NotFittedError

__all__ = ["StandardScaler"]


class StandardScaler:
    """Per-column ``(x - mean) / std``; a constant column gets ``std = 1``.

    Example:
        >>> s = StandardScaler().fit(train)          # train: (T, C)
        >>> z = s.transform(values)                  # (..., C), numpy or torch
        >>> y = s.inverse_transform(z_hat[..., idx], columns=idx)   # only some columns
        >>> s = StandardScaler().fit(values, groups=series_codes)   # per-series statistics
    """

    def __init__(self, eps: float = 1e-8):
        self.eps = eps

    def fit(self, x, groups=None) -> "StandardScaler":
        """Learn per-column mean and std from ``x`` of shape ``(T, C)``.

        With ``groups`` (``(T,)`` integer codes ``0..G-1``), learn them per group too: ``mean_`` is then
        ``(G, C)`` and every later call must say which group each row belongs to.
        """
        x = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
        x = x.reshape(-1, x.shape[-1])
        if groups is None:
            self.mean_ = x.mean(axis=0)
            std = x.std(axis=0)
        else:
            groups = np.asarray(groups, dtype=np.int64).reshape(-1)
            n_groups = int(groups.max()) + 1 if len(groups) else 0
            count = np.maximum(np.bincount(groups, minlength=n_groups), 1)[:, None]
            self.mean_ = np.stack([np.bincount(groups, weights=x[:, c], minlength=n_groups)
                                   for c in range(x.shape[1])], axis=1) / count
            sq = np.stack([np.bincount(groups, weights=x[:, c] ** 2, minlength=n_groups)
                           for c in range(x.shape[1])], axis=1) / count
            std = np.sqrt(np.maximum(sq - self.mean_ ** 2, 0.0))
        self.scale_ = np.where(std > self.eps, std, 1.0)
        return self

    @property
    def grouped(self) -> bool:
        return getattr(self, "mean_", np.zeros(0)).ndim == 2

    def _stats(self, like, columns, groups):
        if not hasattr(self, "mean_"):
            raise NotFittedError("this StandardScaler is not fitted yet; call fit(train_rows) first")
        mean, scale = self.mean_, self.scale_
        if self.grouped:
            if groups is None:
                raise ValueError("this scaler was fitted per group: pass groups=")
            g = np.asarray(groups, dtype=np.int64)
            extra = (1,) * (np.ndim(like) - g.ndim - 1)
            mean = mean[g].reshape(g.shape + extra + (-1,))
            scale = scale[g].reshape(g.shape + extra + (-1,))
        if columns is not None:
            mean, scale = mean[..., columns], scale[..., columns]
        if isinstance(like, torch.Tensor):
            return (torch.as_tensor(mean, dtype=like.dtype, device=like.device),
                    torch.as_tensor(scale, dtype=like.dtype, device=like.device))
        return mean, scale

    def transform(self, x, columns=None, groups=None):
        """``(..., C) -> (..., C)`` standardized; ``columns`` selects the statistics of a column subset;
        ``groups`` (for a scaler fitted per group) gives the group of each leading index of ``x``."""
        mean, scale = self._stats(x, columns, groups)
        return (x - mean) / scale

    def inverse_transform(self, z, columns=None, groups=None):
        """Undo :meth:`transform` on ``(..., C)``; ``columns`` and ``groups`` as in :meth:`transform`."""
        mean, scale = self._stats(z, columns, groups)
        return z * scale + mean

    def state_dict(self) -> dict:
        """JSON-serializable state."""
        return {"mean": self.mean_.tolist(), "scale": self.scale_.tolist(), "eps": self.eps}

    @classmethod
    def from_state_dict(cls, state: dict) -> "StandardScaler":
        s = cls(eps=state.get("eps", 1e-8))
        s.mean_ = np.asarray(state["mean"], dtype=np.float64)
        s.scale_ = np.asarray(state["scale"], dtype=np.float64)
        return s
