"""A start for the deviation g off IPCA's saddle: IPCA on the residuals.

At IPCA's solution, a factor whose loading has no linear part is out of
reach, and a deviation g whose output layer starts at zero sits on a saddle
of the loss: along the missing direction the gradient averages to zero over
months (the factor IPCA fits there is uncorrelated with the missing one) and
only the curvature is negative (docs/neurif_tuning.md). This start takes one
step IPCA's way instead: the managed portfolios of IPCA's residuals on g's
own hidden features, and their leading singular vector as the last factor's
row of g's output layer, at the scale (zero included) that fits the
validation months best.

g's hidden features are random at the start, and whether their span holds
enough of the missing loading is a matter of the draw. With several draws
of g's hidden layer, each gets its residual start and the one that fits the
validation months best is kept (forward passes only: the input of g is
computed once, the draws cost a d x d layer each).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "QuadraticBasis",
    "ResidualStart",
    "start_deviation_on_residuals",
    "start_deviation_quadratic",
    "warm_up_deviation",
]

#: Candidate sizes of the added loading, as a share of the sd of the last
#: factor's loading (0 keeps IPCA's start).
SCALES = (0.0, 0.1, 0.3, 1.0)


@dataclass(frozen=True)
class ResidualStart:
    """What :func:`start_deviation_on_residuals` chose.

    Attributes
    ----------
    scale : float
        Size of the added loading, a share of the sd of the last factor's
        loading (0: IPCA's start kept).
    draw : int
        Hidden layer kept: 0 the module's own, ``j`` the j-th fresh draw.
    sse : float
        Sum of squared residuals on the scoring months at the start kept.
    """

    scale: float
    draw: int
    sse: float


@torch.no_grad()
def start_deviation_on_residuals(
    module, batcher, train, valid, batch_months=8, n_draws=1
):
    """Set g's hidden layer and the last row of its output layer.

    Parameters
    ----------
    module : NeurIFModule
        At its start (g's output layer at zero).
    batcher : PanelBatcher
    train, valid : ndarray of int
        Training and validation month positions (the direction is estimated
        on ``train``, its scale and the draw chosen on ``valid``; without
        validation months, on ``train``).
    batch_months : int
        Months per forward pass.
    n_draws : int
        Hidden layers tried: the module's own, then ``n_draws - 1`` fresh
        draws of torch's default initialisation (torch's RNG). The module
        keeps the best; with no scale > 0 better than IPCA's start on the
        validation months, the module is left unchanged.

    Returns
    -------
    ResidualStart
    """
    fit_months, score_months = _start_months(
        module, batcher, train, valid, batch_months
    )
    if not fit_months or not score_months:
        # No month with more assets than factors: nothing to fit.
        return ResidualStart(scale=0.0, draw=0, sse=np.nan)
    ridge = float(module.ridge)
    hidden = module.deviation[:2]  # Linear, GELU (dropout is off at the start)
    best = (np.inf, None, 0.0, None, None)
    for draw in range(n_draws):
        if draw:
            hidden = copy.deepcopy(hidden)
            hidden[0].reset_parameters()
        features = _hidden_features(hidden)
        sse, scale, row = _best_row(fit_months, score_months, features, ridge)
        if sse < best[0]:  # ties (scale 0 for every draw) keep the module's own
            best = (sse, hidden, scale, row, draw)
    sse, hidden, scale, row, draw = best
    if draw:
        module.deviation[0].load_state_dict(hidden[0].state_dict())
    layer = module.deviation[-1]
    layer.weight[-1] = torch.as_tensor(row, dtype=layer.weight.dtype)
    return ResidualStart(scale=scale, draw=draw, sse=float(sse))


def _best_row(fit_months, score_months, features, ridge, new_factor=False):
    """IPCA's step on the residuals with features h: (valid SSE, scale, row).

    The direction is the leading right singular vector of the managed
    portfolios of the residuals x_t = H_t'e_t / N_t (training months); its
    size, in ``SCALES`` x the sd of the last factor's loading, is the one
    with the lowest SSE on the scoring months. ``features(month)`` gives H_t
    (computed when needed, never stored for all months at once).

    ``new_factor``: first remove from the portfolios (over months) what the
    start's realised factors explain, so that the direction is one whose
    factor is *not* among them. A loading missing from a factor the start
    has (a nonlinear term on a factor with a linear core) already has a
    first-order gradient and is learned by training; only a factor the
    start lacks sits on the saddle (docs/neurif_tuning.md).
    """
    w = _residual_direction(fit_months, features, ridge, new_factor)
    beta_sd = np.sqrt(np.mean(np.concatenate([m.beta[:, -1] for m in fit_months]) ** 2))
    u_sd = np.sqrt(np.mean(np.concatenate([features(m) @ w for m in fit_months]) ** 2))
    scored = [(m.beta, m.ret, features(m) @ w) for m in score_months]
    best = (np.inf, 0.0, 0.0)
    for scale in SCALES:
        c = scale * beta_sd / max(u_sd, 1e-12)
        sse = 0.0
        for b, r, u in scored:
            b = b.copy()
            b[:, -1] += c * u
            e = _residual(b, r, ridge)
            sse += e @ e
        if sse < best[0]:
            best = (sse, scale, c)
    sse, scale, c = best
    return sse, scale, c * w


def _residual_direction(fit_months, features, ridge, new_factor=False):
    """Leading right singular vector of the residuals' managed portfolios.

    See :func:`_best_row` for ``new_factor``.
    """
    portfolios, factors = [], []
    for m in fit_months:
        e, f = _residual(m.beta, m.ret, ridge, with_factors=True)
        portfolios.append(features(m).T @ e / len(m.ret))
        factors.append(f)
    portfolios = np.asarray(portfolios)
    if new_factor:
        F = np.column_stack([np.asarray(factors), np.ones(len(factors))])
        portfolios = portfolios - F @ np.linalg.lstsq(F, portfolios, rcond=None)[0]
    _, _, vt = np.linalg.svd(portfolios, full_matrices=False)
    return vt[0]


def _hidden_features(hidden):
    """month -> g's hidden features of its assets, float64."""
    return lambda month: hidden(month.v).double().cpu().numpy()


def _residual(b, r, ridge, with_factors=False):
    """r - b f with f the month's ridge regression of r on b (as the module)."""
    K = b.shape[1]
    f = np.linalg.solve(b.T @ b + ridge * np.eye(K), b.T @ r)
    return (r - b @ f, f) if with_factors else r - b @ f


@dataclass(frozen=True)
class _Month:
    """One month's assets with returns at the start."""

    v: torch.Tensor  # g's inputs (n, d)
    z: np.ndarray | None  # current characteristics (n, L), when asked for
    beta: np.ndarray  # loadings (n, K)
    ret: np.ndarray  # returns (n,)


def _month_arrays(module, batcher, months, batch_months, with_z=False):
    """Per month with returns (more assets than factors): a :class:`_Month`."""
    captured = {}
    hook = module.deviation.register_forward_pre_hook(
        lambda _m, args: captured.__setitem__("v", args[0])
    )
    arrays = []
    device = module.factor_tokens.device  # batches may be made on a GPU
    try:
        for start in range(0, len(months), batch_months):
            batch = batcher.batch(months[start : start + batch_months])
            batch = {k: v.to(device) for k, v in batch.items()}
            out = module(batch["z"], batch["lags"])
            v = captured["v"]
            beta = out["beta"].double().cpu().numpy()
            ret = batch["ret"].double().cpu().numpy()
            mask = batch["ret_mask"].cpu().numpy()
            for m in range(len(mask)):
                keep = mask[m]
                if keep.sum() > beta.shape[-1]:
                    rows = torch.as_tensor(np.flatnonzero(keep), device=v.device)
                    z = None
                    if with_z:  # float32: the characteristics' own precision
                        cur = batch["lags"][m, :, -1].index_select(0, rows)
                        z = batch["z"].index_select(0, cur).cpu().numpy()
                    arrays.append(
                        _Month(
                            v[m].index_select(0, rows), z, beta[m][keep], ret[m][keep]
                        )
                    )
    finally:
        hook.remove()
    return arrays


# ----------------------------------------------- the quadratic start of g
#: At most this many second-order terms: with more characteristics, those of
#: the characteristics with the largest rows of the start's Gamma.
MAX_TERMS = 1024
#: At most this many training months (evenly spaced) estimate the start's
#: direction. The start keeps each such month's characteristics and encodings
#: in memory: at CRSP scale (480 months of 6,000 stocks, 94 characteristics)
#: all of them took the default fit's peak from 2.8 GB to 5.4 GB, while 120
#: months of 6,000 assets still pin a direction in ~1,000 terms down.
MAX_START_MONTHS = 120
#: Passes over the training months of the warm-up of g (Adam, lr 1e-3). On
#: the tuning seeds 2 epochs often did not carry the loading (the start was
#: then refused on the validation months), 10 lost more on `mixed` than 5
#: (docs/neurif_tuning.md, issue 19).
WARMUP_EPOCHS = 5
#: Parameters the warm-up leaves alone (name prefixes): the linear part and
#: the premia.
WARMUP_FROZEN = ("gamma", "premia")


def start_deviation_quadratic(
    module, batcher, train, valid, batch_months=8, epochs=None
):
    """IPCA's step on the residuals in a second-order basis, then g warmed up.

    The direction is the leading right singular vector of the managed
    portfolios of the start's residuals on the standardised products and
    squares of the current characteristics (:class:`QuadraticBasis`), after
    removing from them (over months) what the start's realised factors
    explain: the loading of a factor the start lacks; its size is chosen on
    the validation months as in :func:`start_deviation_on_residuals`. g cannot hold that loading as it
    is (its features are its own), so all of g (encoder, attention and
    deviation; not Gamma nor the premia) is trained for ``epochs`` passes
    over the training months to output it as the last factor's deviation
    (:func:`warm_up_deviation`). The module is put back at IPCA's start when
    the scale 0 wins or when the warmed-up model fits the validation months
    worse than IPCA's start.

    Returns
    -------
    ResidualStart
        ``draw`` is 0; ``sse`` that of the start kept.
    """
    train_used = _spread(train, MAX_START_MONTHS)
    valid_used = _spread(valid, MAX_START_MONTHS)
    with torch.no_grad():
        fit_months, score_months = _start_months(
            module, batcher, train_used, valid_used, batch_months, with_z=True
        )
    if not fit_months or not score_months:
        return ResidualStart(scale=0.0, draw=0, sse=np.nan)
    ridge = float(module.ridge)
    basis = QuadraticBasis.fit([m.z for m in fit_months], module.gamma.weight)
    _, scale, row = _best_row(
        fit_months, score_months, lambda m: basis(m.z), ridge, new_factor=True
    )
    ipca_sse = _sse([(m.beta, m.ret) for m in score_months], ridge)
    if scale == 0:
        return ResidualStart(scale=0.0, draw=0, sse=ipca_sse)
    saved = copy.deepcopy(module.state_dict())
    epochs = WARMUP_EPOCHS if epochs is None else epochs
    warm_up_deviation(module, batcher, train, basis.loading(row), epochs, batch_months)
    with torch.no_grad():
        # The months ipca_sse was computed on.
        months = valid_used if len(valid_used) else train_used
        after, _ = _start_months(module, batcher, months, [], batch_months)
    warm_sse = _sse([(m.beta, m.ret) for m in after], ridge)
    if not warm_sse < ipca_sse:
        module.load_state_dict(saved)
        return ResidualStart(scale=0.0, draw=0, sse=ipca_sse)
    return ResidualStart(scale=scale, draw=0, sse=warm_sse)


def _spread(months, most):
    """At most ``most`` of ``months``, evenly spaced (all when fewer)."""
    months = np.asarray(months)
    if len(months) <= most:
        return months
    return months[np.linspace(0, len(months) - 1, most).round().astype(int)]


def _start_months(module, batcher, train, valid, batch_months, with_z=False):
    """The start's month arrays on the training and the scoring months."""
    was_training = module.training
    module.eval()
    try:
        fit_months = _month_arrays(module, batcher, train, batch_months, with_z)
        score_months = (
            _month_arrays(module, batcher, valid, batch_months, with_z)
            if len(valid)
            else fit_months
        )
    finally:
        module.train(was_training)
    return fit_months, score_months


def _sse(months, ridge):
    """Sum of squared residuals of the months' (loadings, returns)."""
    return float(sum(e @ e for e in (_residual(b, r, ridge) for b, r in months)))


def _column_moments(z_months, columns):
    """Mean and (population) sd of ``columns(z)`` over the rows of all months."""
    total = square = None
    n_rows = 0
    for z in z_months:
        x = columns(np.asarray(z, dtype=np.float64))
        if total is None:
            total, square = x.sum(axis=0), np.square(x).sum(axis=0)
        else:
            total += x.sum(axis=0)
            square += np.square(x).sum(axis=0)
        n_rows += len(x)
    mean = total / n_rows
    sd = np.sqrt(np.maximum(square / n_rows - mean**2, 0.0))
    # E[x^2] - E[x]^2 leaves rounding residue on a constant column: zero it.
    sd[sd <= 1e-9 * np.abs(mean)] = 0.0
    return mean, sd


class QuadraticBasis:
    """Standardised products and squares of the current characteristics.

    The second-order terms of a Taylor expansion of a loading in the
    characteristics: what a loading with no linear part (an interaction, a
    symmetric function such as :math:`|z|` or :math:`z^2`) has first.
    Constant columns are left out; means and sds are those of the training
    rows. Works on numpy arrays and torch tensors alike.
    """

    def __init__(self, left, right, mean, sd):
        self.left, self.right, self.mean, self.sd = left, right, mean, sd

    @classmethod
    def fit(cls, z_months, gamma_weight):
        # Moments accumulated month by month: the pooled rows (and, above
        # all, their terms: 2.9 million rows x ~1,000 terms at CRSP scale,
        # 23 GB in float64) are never built at once.
        _, z_sd = _column_moments(z_months, lambda z: z)
        cols = np.flatnonzero(z_sd > 0)
        n_max = int((np.sqrt(8 * MAX_TERMS + 1) - 1) / 2)  # m(m+1)/2 <= MAX
        if len(cols) > n_max:  # the characteristics the start loads on most
            norms = gamma_weight.detach().double().cpu().norm(dim=0).numpy()
            cols = np.sort(cols[np.argsort(-norms[cols], kind="stable")[:n_max]])
        left, right = np.triu_indices(len(cols))
        left, right = cols[left], cols[right]
        mean, sd = _column_moments(z_months, lambda z: z[:, left] * z[:, right])
        keep = sd > 0
        return cls(left[keep], right[keep], mean[keep], sd[keep])

    def __call__(self, z):
        """Terms of the rows of ``z`` (n, L) -> (n, n_terms)."""
        if isinstance(z, torch.Tensor):
            mean = torch.as_tensor(self.mean, dtype=z.dtype, device=z.device)
            sd = torch.as_tensor(self.sd, dtype=z.dtype, device=z.device)
            left = torch.as_tensor(self.left, device=z.device)
            right = torch.as_tensor(self.right, device=z.device)
            return (z[..., left] * z[..., right] - mean) / sd
        return (z[..., self.left] * z[..., self.right] - self.mean) / self.sd

    def loading(self, row):
        """The loading ``basis(z) @ row`` as a function of torch characteristics.

        Evaluated as the quadratic form ``z'Az + c`` (A upper triangular):
        no (cells x terms) array, which at CRSP scale is ~1,000 floats a
        cell.
        """
        weights = np.asarray(row, dtype=np.float64) / self.sd
        size = int(max(self.left.max(), self.right.max())) + 1
        form = np.zeros((size, size))
        np.add.at(form, (self.left, self.right), weights)
        const = -float(weights @ self.mean)

        def loading(z):
            a = torch.as_tensor(form, dtype=z.dtype, device=z.device)
            x = z[..., :size]
            return ((x @ a) * x).sum(-1) + const

        return loading


def warm_up_deviation(module, batcher, months, target, epochs, batch_months, lr=1e-3):
    """Train all of g to output ``target(z)`` as the last factor's deviation.

    Adam on every parameter but Gamma, the intercept map and the premia;
    the loss is the squared error over the cells with characteristics,
    relative to the target's second moment. Months are visited in shuffled
    blocks of ``batch_months`` (torch's RNG).
    """
    skip = WARMUP_FROZEN
    params = [p for n, p in module.named_parameters() if not n.startswith(skip)]
    optimizer = torch.optim.Adam(params, lr=lr)
    device = module.factor_tokens.device
    was_training = module.training
    module.train()
    try:
        # Scattered months (sorted within a batch), as measured on the design
        # family (docs/neurif_tuning.md). Blocks of consecutive months would
        # encode each asset-month about once instead of about `window` times
        # (issue 18), but on a 50-month test panel they left the warm-up
        # refused by the validation check: not adopted without the family.
        for _ in range(epochs):
            order = np.asarray(months)[torch.randperm(len(months)).numpy()]
            for start in range(0, len(order), batch_months):
                batch = batcher.batch(np.sort(order[start : start + batch_months]))
                batch = {k: v.to(device) for k, v in batch.items()}
                out = module(batch["z"], batch["lags"])
                present = (batch["lags"][..., -1] >= 0).to(out["beta"].dtype)
                goal = target(batch["z"][batch["lags"][..., -1].clamp(min=0)])
                err = (out["deviation"][..., -1] - goal) * present
                loss = (err**2).sum() / ((goal * present) ** 2).sum().clamp(min=1e-12)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    finally:
        module.train(was_training)
