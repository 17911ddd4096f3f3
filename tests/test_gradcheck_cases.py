"""Every op and layer passes the float64 finite-difference check (the catalogue `minigan gradcheck` prints)."""

import numpy as np
import pytest

from minigan import Tensor, gradcheck_cases
from minigan.gradcheck import gradcheck


@pytest.mark.parametrize("name", list(gradcheck_cases.CASES))
def test_gradient_matches_finite_differences(name):
    (result,) = gradcheck_cases.run_all(seed=0, names=[name])
    assert result.ok, f"{name}: max abs error {result.max_abs:.2e}, rel {result.max_rel:.2e}"


def test_gradcheck_catches_a_wrong_gradient():
    from minigan.function import Function

    class WrongSquare(Function):
        def forward(self, x):
            self.save_for_backward(x)
            return x * x

        def backward(self, gy):
            (x,) = self.saved
            return gy * x  # should be 2 x

    x = Tensor(np.random.default_rng(0).standard_normal(5))
    assert not gradcheck(lambda: WrongSquare()(x), [x]).ok


def test_gradcheck_refuses_float32():
    x = Tensor(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="float64"):
        gradcheck(lambda: x * 2.0, [x])
