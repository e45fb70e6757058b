"""Pictures of what a network does (matplotlib, the optional ``plot`` extra).

Every function returns the matplotlib Figure and, given ``path=``, saves it
as a PNG of ``figsize * dpi`` pixels. matplotlib is imported on first use;
without it each function raises an ImportError naming
``pip install "numdl[plot]"``.

- :func:`plot_activations`: the activation gallery, derivatives by autograd.
- :func:`plot_history`: training curves, best epoch, early stopping.
- :func:`plot_gradient_flow`, :func:`plot_activation_stats`: what a
  ``GradientMonitor`` recorded.
- :func:`plot_decision_boundary`, :func:`plot_confusion_matrix`,
  :func:`plot_images`, :func:`plot_softmax`: what a classifier does.
- :func:`plot_model`: the layer graph with output shapes.

>>> from numdl import plot
>>> fig = plot.plot_confusion_matrix([0, 1], [1, 1])
>>> fig.axes[0].get_xlabel()
'predicted'
>>> plot.pyplot().close(fig)
"""

from numdl.plot._base import INSTALL_HINT, pyplot
from numdl.plot.classification import (
    confusion_counts,
    plot_confusion_matrix,
    plot_decision_boundary,
    plot_images,
    plot_softmax,
)
from numdl.plot.gallery import (
    SATURATION,
    activation_curve,
    gallery_names,
    plot_activations,
    saturated_spans,
)
from numdl.plot.graph import model_graph, plot_model
from numdl.plot.training import (
    metric_direction,
    plot_activation_stats,
    plot_gradient_flow,
    plot_history,
)

__all__ = [
    "INSTALL_HINT",
    "SATURATION",
    "activation_curve",
    "confusion_counts",
    "gallery_names",
    "metric_direction",
    "model_graph",
    "plot_activation_stats",
    "plot_activations",
    "plot_confusion_matrix",
    "plot_decision_boundary",
    "plot_gradient_flow",
    "plot_history",
    "plot_images",
    "plot_model",
    "plot_softmax",
    "pyplot",
    "saturated_spans",
]
