"""NeurIFRegressorCV on the real US stock panel, next to IPCA (issue 13).

Train on the as-of months up to 2017-12, test on 2018-01 to 2020-11 (the
panel of :func:`sklearn_neurif.datasets.load_us_stock_panel`, rank-scaled per
month, plus a constant instrument; raw returns). Prints the chosen
``deviation_penalty_``, ``cv_results_`` and, for IPCA(5) and the CV model,
the test figures of :func:`sklearn_neurif.evaluate_factor_model`.

Usage::

    python benchmarks/neurif_cv_us.py     # about 12 minutes on 2 idle cores
"""

from __future__ import annotations

import time
import warnings


def main() -> None:
    import pandas as pd
    import torch

    from sklearn_neurif import IPCARegressor, evaluate_factor_model
    from sklearn_neurif.datasets import load_us_stock_panel
    from sklearn_neurif.neurif import NeurIFRegressor, NeurIFRegressorCV
    from sklearn_neurif.preprocessing import CrossSectionalRankScaler

    # IPCA's warning on the 2011 warm-up months is expected here.
    warnings.simplefilter("ignore", UserWarning)
    torch.set_num_threads(2)
    data = load_us_stock_panel()
    X = CrossSectionalRankScaler().fit_transform(data.X).assign(const=1.0)
    periods = X.index.get_level_values(-1)
    train = periods <= pd.Period("2017-12", "M")
    Xtr, ytr, Xte, yte = X[train], data.y[train], X[~train], data.y[~train]
    print(f"train rows {len(Xtr)}, test rows {len(Xte)}")
    start = time.perf_counter()
    cv = NeurIFRegressorCV(NeurIFRegressor(n_factors=5, random_state=0))
    cv.fit(Xtr, ytr)
    print(f"CV fit {time.perf_counter() - start:.0f} s, chosen {cv.deviation_penalty_}")
    print(pd.DataFrame(cv.cv_results_).drop(columns="params").to_string())
    ipca = IPCARegressor(n_factors=5).fit(Xtr, ytr)
    for name, est in [("IPCA", ipca), ("NeurIFRegressorCV", cv)]:
        ev = evaluate_factor_model(est, Xte, yte)
        print(
            f"{name}: total R2 {ev.r2_total:.4%}, predictive R2 "
            f"{ev.r2_predictive:.4%}, rank IC {ev.ic_mean:.4f} "
            f"(Newey-West t {ev.ic_nw_tstat:.2f})"
        )


if __name__ == "__main__":
    main()
