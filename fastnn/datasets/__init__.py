"""Small real datasets shipped inside the package (no download needed)."""
import gzip
from importlib import resources

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_digits"]


def load_digits(*, return_X_y=False, dtype=np.float64):
    """The UCI optical handwritten digits: 1797 images of 8x8 pixels (0..16), 10 classes.

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    dtype : float32 or float64, default=float64
        dtype of ``data`` and ``images``.

    Returns
    -------
    Bunch with ``data`` (1797, 64), ``target`` (1797,) int, ``images`` (1797, 8, 8),
    ``target_names`` (0..9), ``DESCR`` (the dataset's description, licence CC BY 4.0:
    Alpaydin & Kaynak 1998, UCI ML Repository, https://doi.org/10.24432/C50P49).
    """
    package = resources.files(__name__)
    with (package / "data" / "digits.csv.gz").open("rb") as f, gzip.open(f, "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.float64)
    data = table[:, :-1].astype(dtype)
    target = table[:, -1].astype(np.intp)
    if return_X_y:
        return data, target
    descr = (package / "descr" / "digits.rst").read_text(encoding="utf-8")
    return Bunch(data=data, target=target, images=data.reshape(-1, 8, 8),
                 target_names=np.arange(10), feature_names=[f"pixel_{r}_{c}" for r in range(8)
                                                            for c in range(8)],
                 DESCR=descr)
