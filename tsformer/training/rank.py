"""Which process of a distributed fit this is, without importing Lightning when no fit has run."""

from __future__ import annotations

import os
import sys

__all__ = ["is_global_zero"]

# the variables Lightning reads the rank from when it is imported, in its order (LOCAL_RANK before
# SLURM_PROCID: SLURM sets the latter even when it does not manage the processes)
_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def is_global_zero() -> bool:
    """Whether this process is rank 0 of a distributed fit (always true without one).

    Lightning's launchers (``strategy="ddp"``, ``torchrun``, SLURM) run the whole program once per
    process; the results (a model file, a printed forecast) should come from rank 0 only.  Once Lightning
    is loaded its own record of the rank decides (its strategies set it); before that, the launcher's
    environment variables, read as Lightning reads them.
    """
    rank_zero = sys.modules.get("lightning.fabric.utilities.rank_zero")
    if rank_zero is not None:
        return getattr(rank_zero.rank_zero_only, "rank", 0) == 0
    for key in _RANK_VARIABLES:
        value = os.environ.get(key)
        if value is not None:
            try:
                return int(value) == 0
            except ValueError:
                return True
    return True
