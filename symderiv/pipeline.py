"""The pipeline end to end: derive, verify, draw figures, write LaTeX, compile PDF.

This is the only module that joins topics and renderers; the command line and
the tests call it, so that ``symderiv report`` and the golden tests produce
reports in exactly the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from symderiv import topics
from symderiv.derivation import CheckResult, Derivation, Figure
from symderiv.render import document

COMBINED_NAME = "symderiv"


@dataclass(frozen=True)
class Report:
    """What building one report produced."""

    topic: str
    tex: Path
    pdf: Path | None
    results: tuple[CheckResult, ...]
    written: tuple[Path, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


def figures_of(derivation: Derivation) -> list[Figure]:
    return [block for block in derivation.steps if isinstance(block, Figure)]


def write_figures(derivation: Derivation, out_dir: Path) -> list[Path]:
    """Draw every figure of ``derivation`` under ``out_dir``; return the changed files."""
    from symderiv.render.figures import write_figure

    changed = []
    for figure in figures_of(derivation):
        path = out_dir / document.figure_path(derivation, figure)
        if write_figure(figure, path):
            changed.append(path)
    return changed


def build_report(
    name: str, out_dir: Path | str, pdf: bool = False, **params: object
) -> tuple[Derivation, Report]:
    """Derive ``name``, run its checks and write ``out_dir/<name>.tex`` (and its figures)."""
    out_dir = Path(out_dir)
    derivation = topics.derive(name, **params)
    results = tuple(derivation.verify())
    written = write_figures(derivation, out_dir)
    tex = out_dir / f"{name}.tex"
    if document.write_atomic(tex, document.standalone(derivation, results)):
        written.append(tex)
    pdf_path = _compile(tex) if pdf else None
    return derivation, Report(name, tex, pdf_path, results, tuple(written))


def build_combined(
    parts: Sequence[tuple[Derivation, Sequence[CheckResult]]], out_dir: Path | str, pdf: bool = False
) -> Report:
    """Write the combined document ``out_dir/symderiv.tex`` from built parts."""
    out_dir = Path(out_dir)
    tex = out_dir / f"{COMBINED_NAME}.tex"
    written = (tex,) if document.write_atomic(tex, document.combined(parts)) else ()
    pdf_path = _compile(tex) if pdf else None
    results = tuple(r for _, rs in parts for r in rs)
    return Report(COMBINED_NAME, tex, pdf_path, results, written)


def build_all(
    names: Sequence[str] | None,
    out_dir: Path | str,
    pdf: bool = False,
    progress: Callable[[Report], None] | None = None,
) -> list[Report]:
    """Reports for ``names`` (every topic, plus the combined document, when None)."""
    every = names is None
    chosen = topics.names() if every else list(names)
    for name in chosen:
        topics.module(name)  # unknown names fail before any work is done
    reports, parts = [], []
    for name in chosen:
        derivation, report = build_report(name, out_dir, pdf=pdf)
        parts.append((derivation, report.results))
        reports.append(report)
        if progress:
            progress(report)
    if every:
        combined = build_combined(parts, out_dir, pdf=pdf)
        reports.append(combined)
        if progress:
            progress(combined)
    return reports


def _compile(tex: Path) -> Path:
    from symderiv.render.pdf import compile_pdf

    compile_pdf(tex)
    return tex.with_suffix(".pdf")
