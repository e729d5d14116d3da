"""Plotting with bokeh (imported here only, never by ``import backtestkit``)."""

from backtestkit.plotting._heatmaps import plot_heatmaps

__all__ = ["plot_heatmaps"]
