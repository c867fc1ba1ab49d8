"""The registry converts and validates parameters, and caches derivations."""

import pytest

import symderiv
from symderiv import topics
from symderiv.errors import InputError
from symderiv.topics import Parameter


def test_public_topic_list():
    assert symderiv.topics() == ["backprop", "convexity", "initialization", "normalization"]


@pytest.mark.parametrize(("kind", "text", "value"), [
    ("ints", "3,4,1", (3, 4, 1)),
    ("ints", [3, 4.0], (3, 4)),
    ("int", "7", 7),
    ("float", "0.25", 0.25),
    ("bool", "yes", True),
    ("bool", "off", False),
    ("str", "relu", "relu"),
])
def test_parameter_conversion(kind, text, value):
    assert Parameter("p", kind, None, "help").convert(text) == value


@pytest.mark.parametrize(("kind", "text", "message"), [
    ("ints", "3,x", "p='3,x' is not a valid comma-separated list of integers"),
    ("int", 2.5, "p=2.5 is not a valid integer"),
    ("bool", "maybe", "p='maybe' is not a valid boolean"),
    ("float", "abc", "p='abc' is not a valid number"),
])
def test_parameter_conversion_errors(kind, text, message):
    with pytest.raises(InputError, match=message):
        Parameter("p", kind, None, "help").convert(text)


def test_parameter_choices():
    spec = Parameter("activation", "str", "relu", "hidden activation", choices=("relu", "tanh"))
    with pytest.raises(InputError, match="activation='elu' is not allowed; choose one of: relu, tanh"):
        spec.convert("elu")


def test_unknown_topic_and_parameter(toy_registered):
    with pytest.raises(InputError, match="unknown topic 'nope'; choose one of: backprop, "):
        topics.derive("nope")
    with pytest.raises(InputError, match="topic 'toy' has no parameter 'q'; allowed: c, wrong"):
        topics.derive("toy", q=1)


def test_derivations_are_cached_by_resolved_parameters(toy_registered):
    assert topics.derive("toy") is topics.derive("toy", c="3")
    assert topics.derive("toy", c=4) is not topics.derive("toy")


def test_importing_symderiv_does_not_import_sympy():
    import subprocess
    import sys

    code = "import sys, symderiv; print('sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
