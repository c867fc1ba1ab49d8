"""Figures of a report, drawn with matplotlib from data the topic computed.

A topic never draws: it puts a :class:`~symderiv.derivation.Figure` holding plain
numbers into its steps, and this module turns it into a PDF. Files are written
without a creation date so that redrawing an unchanged figure changes no byte.
"""

from __future__ import annotations

import io
from pathlib import Path

from symderiv.derivation import CubeDiagram, Figure, LinePlot
from symderiv.render.document import write_atomic

# Fixed so that the same data gives the same file on every machine.
_STYLE = {
    "figure.figsize": (6.0, 3.6),
    "font.size": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "pdf.compression": 6,
    "svg.hashsalt": "symderiv",
}
_METADATA = {"CreationDate": None, "ModDate": None}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _draw_lines(plot: LinePlot, plt) -> object:
    fig, ax = plt.subplots()
    for label, ys in plot.series:
        ax.plot(plot.x, ys, label=label, linewidth=1.6)
    if plot.hline is not None:
        ax.axhline(plot.hline, color="0.4", linewidth=0.8, linestyle="--")
    if plot.logy:
        ax.set_yscale("log")
    ax.set_xlabel(plot.xlabel)
    ax.set_ylabel(plot.ylabel)
    if len(plot.series) > 3:
        # Many curves: a legend inside would cover some of them, so it goes to the right.
        fig.set_size_inches(7.6, 3.6)
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    elif len(plot.series) > 1:
        ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def figure_bytes(figure: Figure) -> bytes:
    """The figure rendered as PDF bytes."""
    plt = _pyplot()
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context(_STYLE):
        if isinstance(figure.plot, LinePlot):
            fig = _draw_lines(figure.plot, plt)
            fig.savefig(buffer, format="pdf", metadata=_METADATA)
            plt.close(fig)
        elif isinstance(figure.plot, CubeDiagram):
            from symderiv.render.cube_diagram import draw_cube_diagram

            draw_cube_diagram(figure.plot, buffer)
        else:  # the data model only admits the two kinds above
            raise TypeError(f"cannot draw {type(figure.plot).__name__}")
    return buffer.getvalue()


def write_figure(figure: Figure, path: Path | str) -> bool:
    """Draw ``figure`` to ``path`` (PDF); return whether the file changed."""
    return write_atomic(path, figure_bytes(figure))
