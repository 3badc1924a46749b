"""Learning paradigms: which train-pool images the learner sees labelled."""

from __future__ import annotations

import numpy as np
import pandas as pd

PARADIGMS = ("ul",)


def make_split(manifest: pd.DataFrame, paradigm: str) -> pd.DataFrame:
    """Columns of the 'split' table: image_id, role (labeled/unlabeled/test), seen.

    UL: every train-pool image (train + val) is unlabeled; all classes are seen.
    """
    if paradigm not in PARADIGMS:
        raise ValueError(f"paradigm '{paradigm}' is not implemented; use one of {PARADIGMS}")
    role = np.where(manifest["split"].eq("test"), "test", "unlabeled")
    return pd.DataFrame({"image_id": manifest["image_id"], "role": role, "seen": True})
