"""adesk demo: fit ADE on the moons toy data, print its figures, write a picture.

Run with ``make demo`` (or ``python examples/demo.py``). It trains ADE with its defaults
(1,000 iterations; ``ADESK_DEMO_MAX_ITER`` overrides) on 10,000 points, then reports
the held-out log-likelihood (exact normalisation by grid quadrature) beside a tuned
GaussianMixture, the MMD of 1,000 samples against 1,000 held-out points (the paper's protocol),
the fit time and its cost in floors (forward plus gradient of the energy on one minibatch), and
writes ``demo_output/ade_moons.png``.
"""

import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from sklearn.mixture import GaussianMixture  # noqa: E402

from adesk import ADEDensityEstimator  # noqa: E402
from adesk.datasets import make_toy  # noqa: E402
from adesk.metrics import mmd2  # noqa: E402
from adesk.plotting import plot_fit_summary  # noqa: E402


def main(dataset="moons", max_iter=None, output_dir="demo_output"):
    max_iter = int(max_iter or os.environ.get("ADESK_DEMO_MAX_ITER", 1000))
    X_train = make_toy(dataset, 10000, random_state=0)
    X_val = make_toy(dataset, 2000, random_state=1)
    X_test = make_toy(dataset, 5000, random_state=2)

    print(f"Fitting ADEDensityEstimator on {dataset} ({len(X_train)} points, {max_iter} iter)")
    start = time.perf_counter()
    ade = ADEDensityEstimator(max_iter=max_iter, random_state=0, verbose=1)
    ade.fit(X_train)
    fit_time = time.perf_counter() - start

    gmm = max(
        (GaussianMixture(k, random_state=0).fit(X_train) for k in (5, 10, 20, 30)),
        key=lambda model: model.score(X_val),
    )
    samples = ade.sample(1000, random_state=0)
    reference = X_test[:1000]
    print()
    print(f"device                         : {ade.device_}")
    print(f"fit time                       : {fit_time:.1f} s")
    print(f"cost (floors)                  : {ade.n_energy_evaluations_:,.0f}")
    print(f"held-out log-likelihood (ADE)  : {ade.score(X_test):.3f} nats/sample")
    print(f"held-out log-likelihood (GMM)  : {gmm.score(X_test):.3f} (k={gmm.n_components})")
    print(
        f"log Z (quadrature)             : {ade.log_partition_:.4f} +- {ade.log_partition_std_:.1e}"
    )
    print(f"MMD^2 x 1e3, ADE samples       : {1e3 * mmd2(reference, samples):.3f}")
    print(f"MMD^2 x 1e3, two true samples  : {1e3 * mmd2(reference, X_test[1000:2000]):.3f}")
    print(f"step size (adapted, mean)      : {ade.step_size_.mean():.4f}")
    gap = sum(ade.history_["energy_gap"][-100:]) / 100
    print(f"E(negatives) - E(data), end    : {gap:+.3f} nats (the sampler follows the model)")

    path = Path(output_dir) / f"ade_{dataset}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    plot_fit_summary(ade, X_train[:2000], samples, path=path, title=f"ADE on {dataset}")
    print(f"picture                        : {path}")


if __name__ == "__main__":
    main()
