"""The kink policy gives one value per convention and refuses unknown names."""

import pytest
import sympy as sp

from symderiv.errors import InputError
from symderiv.kinks import kink_policy

u = sp.Symbol("u", real=True)


@pytest.mark.parametrize(("name", "relu0", "leaky0"), [
    ("zero", 0, sp.Rational(1, 5)),
    ("half", sp.Rational(1, 2), sp.Rational(3, 5)),
    ("set", 0, sp.Rational(1, 5)),
])
def test_values_at_zero(name, relu0, leaky0):
    policy = kink_policy(name)
    assert policy.step(u).subs(u, 0) == relu0
    assert policy.relu_derivative_at_zero() == relu0
    assert policy.relu_derivative_at_zero(sp.Rational(1, 5)) == leaky0
    assert policy.sign(u).subs(u, 0) == 0
    assert policy.step(u).subs(u, 2) == 1 and policy.step(u).subs(u, -2) == 0


def test_set_policy_states_the_subdifferential():
    assert "[-1, 1]" in kink_policy("set").abs_at_zero_latex()
    assert "[0, 1]" in kink_policy("set").relu_at_zero_latex()
    assert ":= 0" in kink_policy("zero").abs_at_zero_latex()


def test_unknown_policy_is_an_input_error():
    with pytest.raises(InputError, match=r"kink='mid' is not a kink policy; choose one of: zero, half, set"):
        kink_policy("mid")
