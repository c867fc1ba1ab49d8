"""The cube picture of normalization: which axes of (N, C, H*W) share one set of statistics.

Each panel draws the activation tensor as a box in oblique projection, with
the channels C running to the right, the spatial positions H, W upwards and
the batch N into the page. The cells normalized together with the first
(front, left) cell are shaded: a reduced axis is shaded over its full length,
a kept axis over one slice, and with ``groups`` > 1 the channel axis over one
group. Drawn with matplotlib's object API on the Agg/PDF canvases, so no
global pyplot state is touched, and saved without a creation date so the
file is the same on every run.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from matplotlib.figure import Figure as MplFigure
from matplotlib.patches import Polygon

from symderiv.derivation import CubeDiagram

AXES = ("N", "C", "HW")
DEPTH = (0.45, 0.32)   # where one full length of N goes in the oblique projection
SLICES = {"N": 6, "C": 8, "HW": 6}
EDGE = "#333333"
SHADE = "#4a78c2"
BACKGROUND = "#f2f2f2"


def _project(c: float, hw: float, n: float) -> tuple[float, float]:
    return c + n * DEPTH[0], hw + n * DEPTH[1]


def _box_faces(c0, c1, h0, h1, n0, n1) -> list[list[tuple[float, float]]]:
    """The three visible faces (front, top, right) of a box, as projected polygons."""
    front = [_project(c0, h0, n0), _project(c1, h0, n0), _project(c1, h1, n0), _project(c0, h1, n0)]
    top = [_project(c0, h1, n0), _project(c1, h1, n0), _project(c1, h1, n1), _project(c0, h1, n1)]
    right = [_project(c1, h0, n0), _project(c1, h0, n1), _project(c1, h1, n1), _project(c1, h1, n0)]
    return [front, top, right]


def _visible_shading(c0, c1, h0, h1, n0, n1) -> list[list[tuple[float, float]]]:
    """The parts of the shaded block that lie on the outside of the whole box.

    The block's own inner faces are hidden behind the unshaded cells, so only
    its front (n = 0), top (h = 1) and right (c = 1) faces are drawn, each
    where it touches the outside.
    """
    front, top, right = _box_faces(c0, c1, h0, h1, n0, n1)
    return ([front] if n0 == 0 else []) + ([top] if h1 == 1 else []) + (
        [right] if c1 == 1 else [])


def _extent(axis: str, reduced: frozenset[str], groups: int) -> tuple[float, float]:
    if axis in reduced:
        return (0.0, 1.0 / groups) if axis == "C" and groups > 1 else (0.0, 1.0)
    return 0.0, 1.0 / SLICES[axis]


def _draw_panel(ax, title: str, reduced: frozenset[str], groups: int) -> None:
    for face in _box_faces(0, 1, 0, 1, 0, 1):
        ax.add_patch(Polygon(face, closed=True, facecolor=BACKGROUND, edgecolor=EDGE, lw=0.8))
    c0, c1 = _extent("C", reduced, groups)
    h_extent = _extent("HW", reduced, groups)
    h0, h1 = 1 - h_extent[1], 1.0   # the top slice, so the shaded top face shows
    n0, n1 = _extent("N", reduced, groups)
    for face in _visible_shading(c0, c1, h0, h1, n0, n1):
        ax.add_patch(Polygon(face, closed=True, facecolor=SHADE, edgecolor=EDGE, lw=0.9))
    # grid lines on the visible faces, one per slice, over the shading
    for step in range(1, SLICES["C"]):
        t = step / SLICES["C"]
        ax.plot(*zip(_project(t, 0, 0), _project(t, 1, 0), _project(t, 1, 1), strict=True),
                color=EDGE, lw=0.25)
    for step in range(1, SLICES["HW"]):
        t = step / SLICES["HW"]
        ax.plot(*zip(_project(0, t, 0), _project(1, t, 0), _project(1, t, 1), strict=True),
                color=EDGE, lw=0.25)
    for step in range(1, SLICES["N"]):
        t = step / SLICES["N"]
        ax.plot(*zip(_project(0, 1, t), _project(1, 1, t), _project(1, 0, t), strict=True),
                color=EDGE, lw=0.25)
    if groups > 1:
        for boundary in range(1, groups):
            t = boundary / groups
            ax.plot(*zip(_project(t, 0, 0), _project(t, 1, 0), _project(t, 1, 1), strict=True),
                    color=EDGE, lw=1.0)
    ax.text(0.5, -0.08, "C", ha="center", va="top", fontsize=10)
    ax.text(-0.07, 0.5, "H, W", ha="right", va="center", fontsize=10, rotation=90)
    mid = _project(1, 0, 0.5)
    ax.text(mid[0] + 0.05, mid[1] - 0.03, "N", ha="left", va="top", fontsize=10)
    ax.set_title(title, fontsize=11)
    ax.set_xlim(-0.25, 1 + DEPTH[0] + 0.15)
    ax.set_ylim(-0.2, 1 + DEPTH[1] + 0.08)
    ax.set_aspect("equal")
    ax.axis("off")


def draw_cube_diagram(diagram: CubeDiagram, path: str | Path | BinaryIO) -> Path | BinaryIO:
    """Draw ``diagram`` (one panel per method) as a PDF at ``path`` (or into a binary file).

    Example::

        >>> d = CubeDiagram((("Layer norm", frozenset({"C", "HW"}), 1),))
        >>> draw_cube_diagram(d, "/tmp/cube.pdf").name
        'cube.pdf'
    """
    for title, reduced, groups in diagram.panels:
        unknown = set(reduced) - set(AXES)
        if unknown:
            raise ValueError(f"panel {title!r}: unknown axes {sorted(unknown)}; use {AXES}")
        if groups < 1:
            raise ValueError(f"panel {title!r}: groups must be >= 1, got {groups}")
    if isinstance(path, (str, Path)):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
    count = max(1, len(diagram.panels))
    figure = MplFigure(figsize=(2.4 * count, 2.5))
    axes = figure.subplots(1, count, squeeze=False)[0]
    for ax, (title, reduced, groups) in zip(axes, diagram.panels, strict=True):
        _draw_panel(ax, title, frozenset(reduced), groups)
    figure.tight_layout()
    figure.savefig(path, format="pdf", metadata={"CreationDate": None})
    return path
