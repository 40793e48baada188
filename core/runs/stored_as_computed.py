"""The default storage step of a batch job: arrays kept exactly as computed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np


class StoredAsComputed:
    """Base of batch jobs whose per-batch arrays are small enough to store unencoded."""

    def encode(self, arrays: dict[str, np.ndarray], pool: ThreadPoolExecutor) -> dict[str, Any]:
        """``arrays`` unchanged: nothing to compress or convert."""
        return arrays
