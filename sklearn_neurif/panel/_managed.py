r"""Characteristic-managed portfolios: the one definition of the package.

For period ``t`` (as-of timing: characteristics :math:`Z_t`, returns
:math:`r_{t+1}` on the same rows), over the assets with an observed return,

.. math::

    x_{t+1} = Z_t' r_{t+1}, \qquad W_t = Z_t' Z_t,

one portfolio per characteristic (the return of a portfolio weighting each
asset by its characteristic). :func:`managed_portfolios` computes these sums
for every period in one pass over a long panel, without torch. The models
scale them, each for a stated reason (docs/conventions.md, "Managed
portfolios"):

* IPCA uses the sums themselves: its pooled least-squares objective weights
  each period by its number of assets.
* NeurIF's Gamma warm start divides by the number of assets :math:`N_t`
  (the average), so the SVD of :math:`[x_1 .. x_T]` does not favour months
  with more assets.
* The conditional autoencoder (Gu, Kelly and Xiu 2021) uses the regression
  form :math:`(W_t + \epsilon I)^{-1} x_{t+1}`, solved per batch on the
  model's device inside the torch module.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import sparse

__all__ = ["managed_portfolios"]


def managed_portfolios(
    Z,
    r,
    layout,
    add_constant=False,
    chunk_bytes=2**22,
    min_periods=16,
    n_jobs=1,
    second_moments=True,
):
    """Per period ``W_t = Z_t'Z_t`` and ``x_t = Z_t'r_t`` over rows with returns.

    Unscaled sums (see the module docstring for the scaled variants). Rows
    whose return is NaN are left out of both products. With ``add_constant`` the moments
    are those of ``[Z_t, 1]``: the extra row and column hold the column sums
    of ``Z_t``, the count of rows and the sum of returns. Rows are gathered
    period-major, a chunk of periods at a time, into one reused buffer (no
    second copy of the panel); each period is then one BLAS product on a
    contiguous slice: the loop runs over periods, never over assets. A chunk
    holds at least ``chunk_bytes`` and ``min_periods`` periods: in a panel
    sorted by entity, consecutive periods of an asset share a cache line, so
    gathering 16 periods at once reads each line once instead of 8 times.

    Parameters
    ----------
    Z : ndarray of shape (n_rows, L)
        Characteristics, float64 or float32 (gathered a chunk at a time and
        upcast: the moments are float64 either way).
    r : ndarray of shape (n_rows,)
        Returns, NaN where missing.
    layout : PanelLayout
        Row map of the panel.
    add_constant : bool, default=False
        Moments of ``[Z_t, 1]`` instead of ``Z_t``.
    chunk_bytes, min_periods : int
        Smallest chunk of gathered rows (tuning only; results do not change).
    n_jobs : int, default=1
        Threads over chunks.
    second_moments : bool, default=True
        Whether to compute ``W``. Without it ``W`` is None and ``x`` is one
        sparse (periods x rows) product in the dtype of ``Z``: no gathered
        copy of the characteristics and no float64 upcast of a float32
        panel (NeurIF's batcher holds float32).

    Returns
    -------
    W : ndarray of shape (n_periods, L', L') or None
    x : ndarray of shape (n_periods, L')
    n_obs : ndarray of shape (n_periods,)
        Rows with returns per period (float).
    """
    T, L = layout.n_periods, Z.shape[1]
    valid = ~np.isnan(r)
    if not second_moments:
        n_obs = np.bincount(layout.time_pos[valid], minlength=T)
        return None, _first_moments(Z, r, valid, layout), n_obs.astype(np.float64)
    rows = layout._row_order if T else np.zeros(0, dtype=np.int64)
    rows = rows[valid[rows]]
    n_obs = np.bincount(layout.time_pos[rows], minlength=T)
    bounds = np.concatenate([[0], np.cumsum(n_obs)])
    W = np.zeros((T, L + int(add_constant), L + int(add_constant)))
    x = np.zeros((T, L + int(add_constant)))
    step = max(1, chunk_bytes // (8 * L), -(-min_periods * len(rows) // max(T, 1)))
    cuts = _chunk_cuts(bounds, step)
    width = int(np.max(np.diff(bounds[cuts]), initial=0))
    chunks = list(zip(cuts[:-1], cuts[1:], strict=True))

    def fill(part):
        gather = _gatherer(Z, width)  # one buffer per thread
        # NaN or inf in Z reach W silently; _check_finite then raises.
        with np.errstate(invalid="ignore", over="ignore"):
            for t, end in part:
                chunk = rows[bounds[t] : bounds[end]]
                Zc, rc = gather(chunk), r[chunk]  # Zc: (L, n_chunk)
                for s in range(t, end):
                    lo, hi = bounds[s] - bounds[t], bounds[s + 1] - bounds[t]
                    _period_moments(Zc[:, lo:hi], rc[lo:hi], W[s], x[s], add_constant)

    n_jobs = max(1, min(int(n_jobs), len(chunks)))
    if n_jobs == 1:
        fill(chunks)
    else:
        # Chunks dealt round-robin; numpy's take and BLAS release the GIL,
        # and each thread writes only its own periods of W and x.
        with ThreadPoolExecutor(n_jobs) as pool:
            list(pool.map(fill, [chunks[j::n_jobs] for j in range(n_jobs)]))
    return W, x, n_obs.astype(np.float64)


def _first_moments(Z, r, valid, layout):
    """``x_t = Z_t' r_t`` of every period as one sparse (T x rows) product."""
    weights = np.where(valid, r, 0.0).astype(Z.dtype)
    summer = sparse.csr_array(
        (weights, (layout.time_pos, np.arange(layout.n_rows))),
        shape=(layout.n_periods, layout.n_rows),
    )
    return np.asarray(summer @ Z, dtype=np.float64)


def _gatherer(Z, width):
    """Function gathering rows of ``Z`` as ``(L, n)`` into one reused buffer.

    Gathers along the contiguous axis: a DataFrame's values are F-ordered, so
    each characteristic is read as one contiguous column. ``mode="clip"``
    writes straight into ``out`` (the default mode buffers a copy).
    """
    L = Z.shape[1]
    # A float32 panel (NeurIF's batcher) is gathered in its own dtype and
    # upcast a chunk at a time (asarray: no copy for float64): the moments are
    # float64 sums either way, and no float64 copy of the whole panel is made.
    if Z.flags.f_contiguous:
        buffer = np.empty((L, width), dtype=Z.dtype)
        return lambda idx: np.asarray(
            np.take(Z.T, idx, axis=1, out=buffer[:, : len(idx)], mode="clip"),
            dtype=np.float64,
        )
    buffer = np.empty((width, L), dtype=Z.dtype)
    return lambda idx: np.asarray(
        np.take(Z, idx, axis=0, out=buffer[: len(idx)], mode="clip").T,
        dtype=np.float64,
    )


def _period_moments(Zs, rs, W, x, add_constant):
    """Write ``Zs Zs'`` and ``Zs r`` (``Zs``: ``L x n_t``) into ``W``, ``x``."""
    L = Zs.shape[0]
    W[:L, :L] = Zs @ Zs.T  # NumPy calls syrk for A @ A.T
    x[:L] = Zs @ rs
    if add_constant:
        W[L, :L] = W[:L, L] = Zs.sum(axis=1)
        W[L, L] = Zs.shape[1]
        x[L] = rs.sum()


def _chunk_cuts(bounds, step):
    """Period boundaries of chunks of about ``step`` rows (at least one period)."""
    T = len(bounds) - 1
    cuts = [0]
    while cuts[-1] < T:
        t = cuts[-1]
        end = int(np.searchsorted(bounds, bounds[t] + step, side="right")) - 1
        cuts.append(min(max(end, t + 1), T))
    return cuts
