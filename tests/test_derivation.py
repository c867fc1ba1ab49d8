"""The data model refuses malformed derivations and runs checks honestly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from symderiv.derivation import Check, Derivation, Measurement, Section, Step, Table
from symderiv.errors import InputError

x = sp.Symbol("x", real=True)


def _check(name="c", run=lambda: 0.0, tolerance=1e-9):
    return Check(name, "exact", run, tolerance, "exact arithmetic")


def _derivation(**changes):
    fields = dict(
        name="demo", title="Demo", statement="S", assumptions=(), steps=(Step("t", x),),
        results={"f": x**2}, checks=(_check(),),
    )
    fields.update(changes)
    return Derivation(**fields)


def test_a_derivation_without_checks_is_refused():
    with pytest.raises(ValueError, match="without checks is a defect"):
        _derivation(checks=())


def test_a_derivation_without_results_is_refused():
    with pytest.raises(ValueError, match="at least one result"):
        _derivation(results={})


def test_duplicate_check_names_are_refused():
    with pytest.raises(ValueError, match=r"duplicate check names \['c'\]"):
        _derivation(checks=(_check(), _check()))


def test_unknown_blocks_are_refused():
    with pytest.raises(TypeError, match="not a derivation block"):
        _derivation(steps=("plain text",))


def test_step_needs_content_and_sympy_math():
    with pytest.raises(ValueError):
        Step("   ")
    with pytest.raises(TypeError, match="SymPy objects or LaTeX strings"):
        Step("t", 1.5)
    assert Step("t", (("a", x), x)).math[1] == x


def test_table_rows_must_fit_the_header():
    with pytest.raises(ValueError, match="a row has 1 cells, the header has 2"):
        Table("t", ("a", "b"), (("1",),))


def test_section_title_must_not_be_empty():
    with pytest.raises(ValueError):
        Section(" ")


def test_check_needs_a_reason_and_a_finite_tolerance():
    with pytest.raises(ValueError, match="say why"):
        Check("c", "exact", lambda: 0.0, 1e-9, " ")
    with pytest.raises(ValueError, match="finite"):
        Check("c", "exact", lambda: 0.0, math.inf, "why")


@pytest.mark.parametrize(
    ("error", "passed"), [(0.0, True), (1e-9, True), (1.1e-9, False), (math.nan, False), (math.inf, False)]
)
def test_check_passes_exactly_when_the_error_is_within_tolerance(error, passed):
    assert _check(run=lambda: error).evaluate().passed is passed


def test_a_check_that_raises_is_a_failure_with_the_reason():
    def broken():
        raise ZeroDivisionError("no")

    result = _check(run=broken).evaluate()
    assert not result.passed
    assert result.detail == "raised ZeroDivisionError: no"


def test_measurement_detail_reaches_the_result():
    result = _check(run=lambda: Measurement(2e-10, "at 3 points")).evaluate()
    assert (result.passed, result.max_error, result.detail) == (True, 2e-10, "at 3 points")


def test_numpy_is_vectorised_cached_and_names_its_arguments():
    d = _derivation()
    f = d.numpy("f")
    assert f is d.numpy("f")
    assert f.argument_names == ("x",)
    np.testing.assert_array_equal(f(np.array([1.0, -3.0])), [1.0, 9.0])


def test_numpy_of_an_unknown_result_is_an_input_error():
    with pytest.raises(InputError, match="demo has no result 'g'; choose one of: f"):
        _derivation().numpy("g")


def test_results_are_read_only():
    d = _derivation()
    with pytest.raises(TypeError):
        d.results["f"] = x


def test_an_unknown_result_name_lists_the_known_ones():
    from symderiv.errors import UnknownResultError

    d = _derivation()
    with pytest.raises(UnknownResultError, match="demo has no result 'g'; choose one of: f") as caught:
        d.results["g"]
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, InputError)
    assert d.results.get("g") is None and "f" in d.results and dict(d.results) == {"f": x**2}
