"""The one data model: a derivation, the steps that show it, and the checks that prove it.

Topics build a :class:`Derivation`; the verifier runs its :class:`Check` objects;
renderers turn it into documents. Everything here is frozen: a derivation is a
value, and its invariants are checked once, when it is built.

``Derivation.steps`` holds the blocks a report shows, in order:

* :class:`Section` starts a new part of the argument;
* :class:`Step` is one line of reasoning, a sentence and a SymPy object;
* :class:`Table` is a small table of numbers or formulas;
* :class:`Figure` is a plot the renderer draws from data the topic computed;
* :class:`Listing` is a hand-written reference function shown as code and as maths.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import sympy as sp

# --------------------------------------------------------------------------- blocks


@dataclass(frozen=True)
class Section:
    """A heading inside a derivation; the renderer makes it a subsection."""

    title: str

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise ValueError("a Section needs a non-empty title")


@dataclass(frozen=True)
class Step:
    """One line of reasoning: a sentence (LaTeX allowed) and the mathematics it states.

    ``math`` is a SymPy object (an ``Eq``, an expression, a ``Matrix``), a LaTeX
    string (used verbatim, for notation SymPy cannot express, such as a case
    distinction with words), an ``(lhs, rhs)`` pair of those with a LaTeX
    string on the left, or a tuple of any of these (an aligned block, one row
    each, pairs aligned at the ``=``). ``None`` means prose only.
    """

    text: str
    math: Any = None

    def __post_init__(self) -> None:
        if not self.text.strip() and self.math is None:
            raise ValueError("a Step needs a sentence or some mathematics")
        items = self.math if isinstance(self.math, tuple) else (self.math,)
        flat = [part for item in items for part in (item if isinstance(item, tuple) else (item,))]
        for item in flat:
            if item is not None and not isinstance(item, (sp.Basic, sp.MatrixBase, str)):
                raise TypeError(
                    f"Step.math must hold SymPy objects or LaTeX strings, got {type(item).__name__}"
                )


@dataclass(frozen=True)
class Table:
    """A small table. Cells are LaTeX strings or SymPy objects (printed in math mode)."""

    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    align: str = ""

    def __post_init__(self) -> None:
        if not self.header:
            raise ValueError("a Table needs a header")
        for row in self.rows:
            if len(row) != len(self.header):
                raise ValueError(
                    f"table {self.caption!r}: a row has {len(row)} cells, "
                    f"the header has {len(self.header)}"
                )
        if self.align and len(self.align) != len(self.header):
            raise ValueError(
                f"table {self.caption!r}: align {self.align!r} does not fit the header"
            )


@dataclass(frozen=True)
class LinePlot:
    """Curves y(x) on common axes; ``series`` maps a legend label to y values."""

    x: tuple[float, ...]
    series: tuple[tuple[str, tuple[float, ...]], ...]
    xlabel: str
    ylabel: str
    logy: bool = False
    hline: float | None = None

    def __post_init__(self) -> None:
        for label, ys in self.series:
            if len(ys) != len(self.x):
                raise ValueError(f"series {label!r} has {len(ys)} points, x has {len(self.x)}")


@dataclass(frozen=True)
class CubeDiagram:
    """Which axes of an (N, C, H*W) activation tensor each normalization reduces over.

    ``panels`` holds (title, reduced axes, groups) with axes drawn from
    ``{"N", "C", "HW"}``; ``groups`` > 1 splits the channel axis as group norm does.
    """

    panels: tuple[tuple[str, frozenset[str], int], ...]


@dataclass(frozen=True)
class Figure:
    """A figure drawn by the renderer; ``name`` becomes the file name (no extension)."""

    name: str
    caption: str
    plot: LinePlot | CubeDiagram

    def __post_init__(self) -> None:
        if not self.name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"figure name {self.name!r} must be letters, digits, '-' and '_'")


@dataclass(frozen=True)
class Listing:
    """A hand-written reference function, shown as source code and as mathematics."""

    caption: str
    function: Callable[..., Any]


Block = Section | Step | Table | Figure | Listing

# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class Measurement:
    """What a check measured: the largest discrepancy found, and a sentence about it."""

    error: float
    detail: str = ""


@dataclass(frozen=True)
class Check:
    """A comparison of a derived result with an independent computation.

    ``run`` returns a :class:`Measurement` (or a bare float error); the check
    passes when the error is at most ``tolerance``. ``method`` names the
    independent computation; ``why`` justifies the tolerance.
    """

    name: str
    method: str
    run: Callable[[], Measurement | float]
    tolerance: float
    why: str

    def __post_init__(self) -> None:
        if not self.name.strip() or not self.method.strip():
            raise ValueError("a Check needs a name and a method")
        if not (self.tolerance >= 0 and math.isfinite(self.tolerance)):
            raise ValueError(f"check {self.name!r}: tolerance must be finite and >= 0")
        if not self.why.strip():
            raise ValueError(f"check {self.name!r}: say why the tolerance is what it is")

    def evaluate(self) -> CheckResult:
        """Run the check; an exception inside it is a failure, not a crash."""
        try:
            outcome = self.run()
        except Exception as exc:  # a broken check must show up in the table
            return CheckResult(
                self.name, self.method, False, math.inf, self.tolerance,
                f"raised {type(exc).__name__}: {exc}",
            )
        if not isinstance(outcome, Measurement):
            outcome = Measurement(float(outcome))
        error = float(outcome.error)
        passed = math.isfinite(error) and error <= self.tolerance
        return CheckResult(self.name, self.method, passed, error, self.tolerance, outcome.detail)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one :class:`Check`."""

    name: str
    method: str
    passed: bool
    max_error: float
    tolerance: float
    detail: str = ""


# --------------------------------------------------------------------------- derivation


def _freeze_mapping(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


class Results(Mapping):
    """The read-only results of a derivation; an unknown name lists the known ones."""

    def __init__(self, owner: str, items: Mapping[str, Any]) -> None:
        self._owner = owner
        self._items = dict(items)

    def __getitem__(self, name: str) -> Any:
        try:
            return self._items[name]
        except KeyError:
            from symderiv.errors import UnknownResultError

            raise UnknownResultError(
                f"{self._owner} has no result {name!r}; choose one of: {', '.join(self._items)}"
            ) from None

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Results({self._items!r})"


@dataclass(frozen=True)
class Derivation:
    """A derivation: the question, the reasoning, the results and their checks.

    ``results`` maps a name (``"dL/dW1"``) to a SymPy object; ``signatures``
    optionally fixes the argument order of :meth:`numpy` for a result (by
    default its free symbols sorted by name). ``parameters`` records the
    values the topic was derived with; ``notes`` say where the source question
    is loose or wrong.
    """

    name: str
    title: str
    statement: str
    assumptions: tuple[str, ...]
    steps: tuple[Block, ...]
    results: Mapping[str, Any]
    checks: tuple[Check, ...]
    notes: tuple[str, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    signatures: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    _numpy_cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"derivation name {self.name!r} must be an identifier")
        for attribute in ("assumptions", "steps", "checks", "notes"):
            object.__setattr__(self, attribute, tuple(getattr(self, attribute)))
        object.__setattr__(self, "results", Results(self.name, self.results))
        for attribute in ("parameters", "signatures"):
            object.__setattr__(self, attribute, _freeze_mapping(getattr(self, attribute)))
        for block in self.steps:
            if not isinstance(block, (Section, Step, Table, Figure, Listing)):
                raise TypeError(f"{self.name}: {type(block).__name__} is not a derivation block")
        if not self.results:
            raise ValueError(f"{self.name}: a derivation must have at least one result")
        if not self.checks:
            raise ValueError(f"{self.name}: a derivation without checks is a defect")
        names = [check.name for check in self.checks]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"{self.name}: duplicate check names {duplicated}")
        figures = [b.name for b in self.steps if isinstance(b, Figure)]
        if len(figures) != len(set(figures)):
            raise ValueError(f"{self.name}: figure names must be unique, got {figures}")
        unknown = set(self.signatures) - set(self.results)
        if unknown:
            raise ValueError(f"{self.name}: signatures for unknown results {sorted(unknown)}")

    # ---------------------------------------------------------------- numbers

    def numpy(self, result_name: str) -> Callable[..., Any]:
        """The result ``result_name`` as a vectorised NumPy function (cached).

        The function takes the symbols of ``signatures[result_name]`` (or the
        result's free symbols sorted by name) as positional arguments; their
        names are on the function's ``argument_names`` attribute.
        """
        from symderiv.numeric import lambdify_numpy

        expr = self.results[result_name]  # an unknown name raises, listing the known ones
        if result_name not in self._numpy_cache:
            args = self.signatures.get(result_name)
            if args is None:
                args = tuple(sorted(getattr(expr, "free_symbols", ()), key=lambda s: s.name))
            self._numpy_cache[result_name] = lambdify_numpy(args, expr)
        return self._numpy_cache[result_name]

    def verify(self) -> list[CheckResult]:
        """Run every check and return the results in order."""
        return [check.evaluate() for check in self.checks]

    # ---------------------------------------------------------------- documents

    def to_latex(self, results: list[CheckResult] | None = None) -> str:
        """The derivation as a standalone LaTeX document (checks shown if given)."""
        from symderiv.render.document import standalone

        return standalone(self, results)

    def _repr_latex_(self) -> str:
        from symderiv.render.latex import summary_math

        return summary_math(self)
