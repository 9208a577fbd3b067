"""What the pictures say: units and scale, the flow, which phase conducts, slices, splits."""

from __future__ import annotations

import numpy as np
import pytest

from ionflow import simulate
from ionflow.generate import binder_labels, blobs
from ionflow.solve import SolveOptions
from ionflow.solve._files import field_legend

plot = pytest.importorskip("ionflow.plot")


@pytest.fixture
def figures(monkeypatch):
    """Keep the figures the plot functions would save and close."""
    kept = []

    def keep(fig, path):
        kept.append(fig)
        return path

    from ionflow.plot import _analysis, _fields, _model, _segmentation

    for module in (_analysis, _fields, _model, _segmentation):  # each drawing module saves
        if hasattr(module, "_save"):
            monkeypatch.setattr(module, "_save", keep)
    yield kept
    import matplotlib.pyplot as plt

    for fig in kept:
        plt.close(fig)


def _texts(fig) -> str:
    """Every piece of text in a figure (titles, labels, legends, annotations)."""
    from matplotlib.text import Text

    return "\n".join(t.get_text() for t in fig.findobj(Text))


def test_fields_picture_in_micrometres_with_scale_bar_flow_and_legend(figures):
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    img = blobs((40, 60), electrolyte_fraction=0.7, rng=1)
    res = simulate(img, fields=True, pixel_size=2e-7, axis=1)
    assert res.percolating
    legend = field_legend(img, SolveOptions(conductivity=0.5))
    plot.plot_fields(
        "x.png", img, res.potential, res.current_density, axis=1,
        pixel_size=res.pixel_size, percolating=res.percolating, legend=legend,
    )  # fmt: skip
    (fig,) = figures
    text = _texts(fig)
    axes = fig.axes[:3]
    assert axes[0].get_xlabel() == "x (µm)" and axes[0].get_ylabel() == "y (µm)"
    assert axes[0].get_xlim() == pytest.approx((0, 60 * 0.2))  # 12 um wide
    assert any(isinstance(a, AnchoredSizeBar) for a in axes[0].artists)
    assert "2 µm" in text  # the scale bar: a round fifth of 12 um
    assert "flow, axis 1" in text and "electrolyte: conducts, 0.5 S/m" in text
    assert "solid: insulating" in text and "no percolating path" not in text


def test_fields_picture_of_a_volume_names_its_slice_and_labels(figures):
    labels = binder_labels((16, 16, 16), electrolyte_fraction=0.5, rng=1)
    sigma = {0: 1.0, 1: 0.0, 2: 0.1}
    res = simulate(labels, fields=True, label_conductivities=sigma, axis=2)
    legend = field_legend(labels, SolveOptions(label_conductivities=sigma), ("a", "b", "c"))
    plot.plot_fields(
        "x.png", labels, res.potential, res.current_density, axis=2, legend=legend,
        log_current=True,
    )  # fmt: skip
    (fig,) = figures
    text = _texts(fig)
    assert "slice y = 8 of 16 (z-x plane)" in text  # across the last axis that is not the flow
    assert (
        "a: conducts, 1 S/m" in text and "b: insulating" in text and "c: conducts, 0.1 S/m" in text
    )
    assert fig.axes[0].get_xlabel() == "x (px)"
    from matplotlib.colors import LogNorm

    assert isinstance(fig.axes[2].images[0].norm, LogNorm)
    assert "(log scale)" in fig.axes[2].get_title()


def test_no_percolating_path_is_written_on_the_maps(figures):
    img = np.zeros((12, 12), bool)
    img[:5, 3] = img[8:, 7] = True  # one dead end at each electrode
    res = simulate(img, fields=True)
    assert not res.percolating
    plot.plot_fields("x.png", img, res.potential, res.current_density, percolating=False)
    (fig,) = figures
    assert _texts(fig).count("no percolating path") == 2


def test_segmentation_preview_has_a_histogram_with_the_thresholds(figures):
    gray = np.repeat(np.array([20.0, 120.0, 220.0]), 100)[None, :].repeat(30, axis=0)
    gray += np.random.default_rng(0).normal(0, 5, gray.shape)
    classes = np.digitize(gray, [70, 170], right=True).astype(np.uint8)
    plot.plot_segmentation(
        "x.png", gray, classes == 0, thresholds=(70.0, 170.0),
        phase_names=("pore", "binder", "active"), conductive=(0,),
    )  # fmt: skip
    (fig,) = figures
    hist = fig.axes[3]
    lines = [ln.get_xdata()[0] for ln in hist.get_lines()]
    assert lines == [70.0, 170.0]
    text = _texts(fig)
    assert "pore*" in text and "binder" in text and "* conducts" in text


def test_dataset_plot_marks_the_splits(figures):
    values = np.linspace(0, 1, 30)
    plot.plot_labels_by_class(
        "x.png", values, np.round(values, 1), splits=[("train", 20), ("val", 5), ("test", 5)]
    )
    (fig,) = figures
    text = _texts(fig)
    assert "train (20)" in text and "val (5)" in text and "test (5)" in text
    boundaries = [ln.get_xdata()[0] for ln in fig.axes[0].get_lines()]
    assert boundaries == [19.5, 24.5]
