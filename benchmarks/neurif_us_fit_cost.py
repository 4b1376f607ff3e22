"""Wall time of a default NeurIF fit on the whole US stock panel (issue 13, item 7).

The panel of :func:`sklearn_neurif.datasets.load_us_stock_panel` (about
680,000 stock-months, 8 characteristics), rank-scaled per month, plus a
constant instrument; ``NeurIFRegressor(n_factors=5, random_state=0)`` with
every other parameter at its default. Prints the rows, the fit's wall time,
the epochs run, the best epoch and the seconds per epoch, with the load
average before and after (the figure means something only on an idle
machine).

``--max-epochs E`` caps the fit at E epochs (every other parameter at its
default): on a loaded machine, where a whole fit takes too long, it gives
the seconds per epoch to compare two versions of the code in the same
conditions (run the same command with ``PYTHONPATH`` at the other version).
The figure of the issue is the default fit on an idle machine.

Usage::

    python benchmarks/neurif_us_fit_cost.py            # 2 torch threads
    python benchmarks/neurif_us_fit_cost.py --threads 1
    python benchmarks/neurif_us_fit_cost.py --max-epochs 3   # s/epoch only
"""

from __future__ import annotations

import argparse
import os
import time
import warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument(
        "--max-epochs", type=int, default=None, help="cap (default: the default)"
    )
    args = parser.parse_args()

    import torch

    from sklearn_neurif import NeurIFRegressor
    from sklearn_neurif.datasets import load_us_stock_panel
    from sklearn_neurif.preprocessing import CrossSectionalRankScaler

    torch.set_num_threads(args.threads)
    data = load_us_stock_panel()
    X = CrossSectionalRankScaler().fit_transform(data.X).assign(const=1.0)
    print(f"rows {len(X)}, columns {X.shape[1]}, torch threads {args.threads}")
    print(f"load average before: {os.getloadavg()}")
    start = time.perf_counter()
    with warnings.catch_warnings():
        # The warm-up months (2011) do not identify every IPCA factor at the
        # IPCA start; IPCA says so, which is expected here.
        warnings.simplefilter("ignore", UserWarning)
        est = NeurIFRegressor(n_factors=5, random_state=0)
        if args.max_epochs is not None:
            est.set_params(max_epochs=args.max_epochs)
        est.fit(X, data.y)
    elapsed = time.perf_counter() - start
    print(
        f"fit {elapsed:.1f} s, epochs {est.n_iter_}, best epoch {est.best_epoch_}, "
        f"{elapsed / est.n_iter_:.1f} s/epoch (whole fit / epochs), "
        f"{est.history_['dur'].mean():.2f} s/epoch (skorch's dur: train + validation)"
    )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
