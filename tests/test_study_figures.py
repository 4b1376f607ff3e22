"""The study's figures (sklearn_neurif.study._figures): drawn for every model set.

Each figure is drawn on tiny simulated studies with different model sets
(with and without CA2, with a user's estimator that has no factor structure)
and inspected as matplotlib objects (Agg backend): labelled axes, a title,
labelled colourbars, legends outside every panel, every model named.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402

from sklearn_neurif.study import run_study, study_settings  # noqa: E402
from sklearn_neurif.study._figures import (  # noqa: E402
    FIGURES,
    draw_figures,
    write_figures,
)

MODEL_SETS = {
    "IPCA and a plain regressor": (["IPCA"], {"ridge": Ridge(alpha=1.0)}),
    "IPCA, NeurIF, CA2": (["IPCA", "NeurIF", "CA2"], None),
}


def _tiny_study(models, estimators):
    """A seconds-long quick study: 150 simulated assets, one epoch, no bootstrap."""
    settings = study_settings(
        quick=True,
        models=tuple(models),
        max_entities=150,
        kps_n_boot=0,
        params={
            "NeurIF": {"window": 3, "max_epochs": 1, "patience": 1},
            "CA2": {"max_epochs": 1, "patience": 1},
        },
    )
    return run_study(
        "simulated", quick=True, settings=settings, estimators=estimators, quiet=True
    )


@pytest.fixture(scope="module", params=list(MODEL_SETS))
def result(request):
    models, estimators = MODEL_SETS[request.param]
    return _tiny_study(models, estimators)


@pytest.fixture(scope="module")
def figures(result):
    drawn = draw_figures(result)
    for fig in drawn.values():
        fig.canvas.draw()  # lay out: legends and axes get their final places
    yield drawn
    for fig in drawn.values():
        plt.close(fig)


def _data_axes(fig):
    """Panels that show data (not colourbars, not empty 'absent' panels)."""
    return [
        ax for ax in fig.axes if ax.axison and not hasattr(ax, "_colorbar")
    ]  # fmt: skip


def _colourbar_axes(fig):
    return [ax for ax in fig.axes if hasattr(ax, "_colorbar")]


def test_every_figure_is_written(result, tmp_path):
    paths = write_figures(result, tmp_path)
    assert [p.name for p in paths] == list(FIGURES)
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path.name
    assert not plt.get_fignums()  # every figure closed after writing


def test_axes_labelled_and_titled(figures):
    for name, fig in figures.items():
        assert fig.get_suptitle(), name
        for ax in _data_axes(fig):
            assert ax.get_xlabel() and ax.get_ylabel(), (name, ax.get_title())
            assert ax.get_title(), name
        for ax in _colourbar_axes(fig):
            # A colourbar says what the colour is (its label on its long axis).
            assert ax.get_ylabel() or ax.get_xlabel(), name


def test_legends_lie_outside_every_panel(figures):
    n_legends = 0
    for name, fig in figures.items():
        renderer = fig.canvas.get_renderer()
        legends = list(fig.legends) + [
            ax.get_legend() for ax in fig.axes if ax.get_legend() is not None
        ]
        for legend in legends:
            n_legends += 1
            box = legend.get_window_extent(renderer)
            for ax in _data_axes(fig):
                assert not box.overlaps(ax.get_window_extent(renderer)), name
    assert n_legends >= 4  # the figures with several series have legends


def test_every_model_named_or_its_absence_stated(result, figures):
    """Each model appears in each figure: as a tick, a legend entry, a panel
    title, or in the figure's statement of what is not shown."""
    for name, fig in figures.items():
        texts = [fig.get_suptitle()]
        for ax in fig.axes:
            texts.append(ax.get_title())
            texts += [t.get_text() for t in ax.get_xticklabels()]
        for legend in fig.legends:
            texts += [t.get_text() for t in legend.get_texts()]
        joined = "\n".join(texts)
        for model in result.models:
            assert model in joined, (name, model)


def test_plain_regressor_marked_without_factor_structure(result, figures):
    if "ridge" not in result.models:
        pytest.skip("no plain regressor in this model set")
    r2 = figures["r2_ci.png"]
    assert "ridge (no factor structure" in r2.get_suptitle()
    attribution = figures["attribution_heatmap.png"]
    ridge = next(ax for ax in attribution.axes if ax.get_title() == "ridge")
    assert not ridge.axison
    assert "no factor structure" in ridge.texts[0].get_text()


def test_every_factor_model_has_an_attribution(result):
    """CA2 (no characteristic_attribution method) gets the loading regression."""
    factor_models = [m for m in result.models if m != "ridge"]
    assert set(result.attribution) == set(factor_models)
    for frame in result.attribution.values():
        assert frame.notna().all().all()


def test_rank_ic_rolling_mean_bold_over_faint_monthly(figures, result):
    ax = _data_axes(figures["rank_ic.png"])[0]
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 2]
    faint = [ln for ln in lines if (ln.get_alpha() or 1) < 0.5]
    bold = [ln for ln in lines if ln.get_linewidth() >= 2]
    assert len(faint) == len(bold) == len(result.evaluations)
