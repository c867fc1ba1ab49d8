r"""Derivations to LaTeX documents: one standalone article per topic, one combined book.

Text fields of a derivation (statements, step sentences, notes, check names)
are LaTeX written by the topic's author. Anything that comes from a user or
from a program (parameter values, result names, error messages) goes through
:func:`escape_text` first.

The output is a pure function of the derivation and its check results: no
dates, no absolute paths, no dictionary-order accidents, so regenerating a
report changes no byte unless its content changed.
"""

from __future__ import annotations

import inspect
import os
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from symderiv.derivation import (
    CheckResult,
    Derivation,
    Figure,
    Listing,
    Section,
    Step,
    Table,
)
from symderiv.notation import latex_number
from symderiv.render.latex import latex, math_block

FIGURE_DIR = "figures"

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}

_PREAMBLE = r"""\usepackage{amsmath}
\usepackage{amssymb}
\usepackage{booktabs}
\usepackage{longtable}
\usepackage{array}
\usepackage{graphicx}
\usepackage[margin=2.5cm]{geometry}
\usepackage{xcolor}
\usepackage{listings}
\usepackage{hyperref}
\lstset{language=Python, basicstyle=\ttfamily\small, columns=fullflexible,
  keepspaces=true, frame=single, breaklines=true, upquote=true}
\hypersetup{colorlinks=true, linkcolor=blue!50!black, urlcolor=blue!50!black}
\ifdefined\pdftrailerid\pdftrailerid{}\fi
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.5em}
\allowdisplaybreaks
"""

_HEADINGS = ("chapter", "section", "subsection", "subsubsection", "paragraph")


def escape_text(text: str) -> str:
    """Escape ``text`` so that LaTeX prints it literally."""
    return "".join(_SPECIAL.get(ch, ch) for ch in str(text))


def format_number(value: float) -> str:
    """A check error or tolerance for a table: two significant digits, math mode."""
    return latex_number(value)


def figure_path(derivation: Derivation, figure: Figure) -> str:
    """Where a figure's PDF lives, relative to the report's directory."""
    return f"{FIGURE_DIR}/{derivation.name}-{figure.name}.pdf"


def _heading(level: int, title: str, star: bool = False) -> str:
    command = _HEADINGS[min(level, len(_HEADINGS) - 1)]
    return f"\\{command}{'*' if star else ''}{{{title}}}\n"


def _render_step(step: Step) -> str:
    parts = []
    if step.text.strip():
        parts.append(step.text.strip())
    if step.math is not None:
        parts.append(math_block(step.math))
    return "\n".join(parts) + "\n"


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else f"${latex(value)}$"


def _render_table(table: Table) -> str:
    align = table.align or "l" + "c" * (len(table.header) - 1)
    lines = [
        r"\begin{table}[!htbp]",
        r"\centering",
        rf"\caption{{{table.caption}}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(table.header) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(_cell(c) for c in row) + r" \\" for row in table.rows]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _render_figure(derivation: Derivation, figure: Figure) -> str:
    return "\n".join([
        r"\begin{figure}[!htbp]",
        r"\centering",
        rf"\includegraphics[width=0.8\linewidth]{{{figure_path(derivation, figure)}}}",
        rf"\caption{{{figure.caption}}}",
        r"\end{figure}",
    ]) + "\n"


def _render_listing(listing: Listing) -> str:
    import latexify

    source = textwrap.dedent(inspect.getsource(listing.function)).strip()
    if r"\end{lstlisting}" in source:
        raise ValueError("a listing's source must not contain \\end{lstlisting}")
    formula = latexify.get_latex(listing.function)
    return "\n".join([
        listing.caption.strip(),
        r"\begin{lstlisting}",
        source,
        r"\end{lstlisting}",
        "The same function, typeset from its source by latexify-py:",
        r"{\small\begin{equation*}",
        formula,
        r"\end{equation*}}",
    ]) + "\n"


def _render_parameters(derivation: Derivation) -> str:
    if not derivation.parameters:
        return ""
    items = [
        rf"\texttt{{{escape_text(k)}={escape_text(_plain(v))}}}"
        for k, v in sorted(derivation.parameters.items())
    ]
    # \texttt cannot hyphenate; \sloppy lets a long list break between items instead.
    return "{\\sloppy Parameters of this derivation: " + ", ".join(items) + ".\\par}\n"


def _plain(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def _itemize(items: Sequence[str]) -> str:
    lines = [rf"\item {item.strip()}" for item in items]
    return "\\begin{itemize}\n" + "\n".join(lines) + "\n\\end{itemize}\n"


# Narrow text columns read better ragged-right than justified.
_RAGGED = r">{\raggedright\arraybackslash}"


def _long_table(columns: str, header: str, rows: Sequence[str]) -> list[str]:
    """A booktabs longtable, so that a long list of checks breaks across pages."""
    return [
        r"{\small",
        rf"\begin{{longtable}}{{{columns}}}",
        r"\toprule", header, r"\midrule", r"\endhead",
        r"\bottomrule", r"\endlastfoot",
        *rows,
        r"\end{longtable}}",
    ]


def _render_checks(
    derivation: Derivation, results: Sequence[CheckResult] | None, level: int
) -> str:
    out = [_heading(level, "Checks")]
    if results is None:
        out.append(
            "These checks compare each result with an independent computation; "
            "they were not run for this document.\n"
        )
        rows = [f"{c.name} & {c.method} & {format_number(c.tolerance)} \\\\" for c in derivation.checks]
        columns = _RAGGED + r"p{0.36\linewidth}" + _RAGGED + r"p{0.32\linewidth}c"
        out += _long_table(columns, r"Check & Compared with & Tolerance \\", rows)
        return "\n".join(out) + "\n"
    passed = sum(r.passed for r in results)
    out.append(
        f"Each result was compared with a computation that does not reuse its SymPy "
        f"expression. {passed} of {len(results)} checks passed.\n"
    )
    verdicts = {True: "pass", False: r"\textbf{FAIL}"}
    rows = [
        f"{r.name} & {r.method} & {format_number(r.max_error)} & "
        f"{format_number(r.tolerance)} & {verdicts[r.passed]} \\\\"
        for r in results
    ]
    columns = _RAGGED + r"p{0.31\linewidth}" + _RAGGED + r"p{0.29\linewidth}ccc"
    out += _long_table(columns, r"Check & Compared with & Error & Tolerance & \\", rows)
    out.append(_heading(level + 1, "Why these tolerances", star=True))
    by_name = {c.name: c for c in derivation.checks}
    details = []
    for r in results:
        text = f"\\textbf{{{r.name}.}} {by_name[r.name].why.strip()}"
        if r.detail.strip():
            text += f" {r.detail.strip()}"
        details.append(text)
    out.append(_itemize(details))
    return "\n".join(out)


def body(derivation: Derivation, results: Sequence[CheckResult] | None, level: int = 1) -> str:
    """The LaTeX of one derivation, its top headings at ``level`` (1 = section)."""
    out = [_heading(level, "The question"), derivation.statement.strip() + "\n"]
    out.append(_render_parameters(derivation))
    if derivation.assumptions:
        out += [_heading(level, "Assumptions"), _itemize(derivation.assumptions)]
    for block in derivation.steps:
        if isinstance(block, Section):
            out.append(_heading(level, block.title))
        elif isinstance(block, Step):
            out.append(_render_step(block))
        elif isinstance(block, Table):
            out.append(_render_table(block))
        elif isinstance(block, Figure):
            out.append(_render_figure(derivation, block))
        elif isinstance(block, Listing):
            out.append(_render_listing(block))
    if derivation.notes:
        out += [_heading(level, "Where the source question differs"), _itemize(derivation.notes)]
    out.append(_render_checks(derivation, results, level))
    return "\n".join(part for part in out if part)


def standalone(derivation: Derivation, results: Sequence[CheckResult] | None = None) -> str:
    """A complete article for one derivation."""
    return "\n".join([
        r"\documentclass[11pt]{article}",
        _PREAMBLE,
        rf"\title{{{derivation.title}}}",
        r"\author{Derived and checked by symderiv}",
        r"\date{}",
        r"\begin{document}",
        r"\maketitle",
        body(derivation, results, level=1),
        r"\end{document}",
        "",
    ])


_READING_GUIDE = r"""\chapter*{Reading this document}
\addcontentsline{toc}{chapter}{Reading this document}
Each chapter takes one question from a deep-learning course, states it, and
derives the answer step by step. Every formula that appears as a result was
produced by SymPy (differentiation, integration, solving, simplification),
not typed in, and every result was then compared with a computation that does
not reuse its symbolic expression: finite differences, the \texttt{autograd}
package, a separately written NumPy implementation, Monte Carlo sampling,
numerical quadrature, or exact rational arithmetic.

A chapter ends with two sections. \emph{Where the source question differs}
lists the places where the usual statement of the question is loose or wrong,
and what is true instead. \emph{Checks} lists every comparison that was run,
the largest discrepancy it found, the tolerance it was held to, and why that
tolerance is the right one.
"""


def combined(
    parts: Sequence[tuple[Derivation, Sequence[CheckResult] | None]],
    title: str = "The mathematics of deep learning, derived and checked",
) -> str:
    """One book-like document: a table of contents and a chapter per derivation."""
    chapters = []
    for derivation, results in parts:
        chapters.append(_heading(0, derivation.title))
        chapters.append(body(derivation, results, level=1))
    return "\n".join([
        r"\documentclass[11pt]{report}",
        _PREAMBLE,
        rf"\title{{{title}}}",
        r"\author{Derived and checked by symderiv}",
        r"\date{}",
        r"\begin{document}",
        r"\maketitle",
        r"\tableofcontents",
        _READING_GUIDE,
        *chapters,
        r"\end{document}",
        "",
    ])


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path | str, data: str | bytes) -> bool:
    """Write ``data`` to ``path`` atomically; return False (and touch nothing) if unchanged."""
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if path.exists() and path.read_bytes() == raw:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(raw)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True
