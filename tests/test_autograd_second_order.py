"""Second-order autograd: minigan.grad, create_graph, gradgradcheck over the catalogue, third order."""

import numpy as np
import pytest

import minigan
from minigan import MiniganError, Tensor
from minigan import functional as F
from minigan import gradcheck_cases
from minigan.function import Function
from minigan.gradcheck import gradgradcheck


@pytest.mark.parametrize("name", list(gradcheck_cases.CASES))
def test_gradgradcheck_every_catalogue_entry(name):
    i = list(gradcheck_cases.CASES).index(name)
    fn, leaves = gradcheck_cases.CASES[name](np.random.default_rng(i))
    result = gradgradcheck(fn, leaves, name=name, seed=i)
    assert result.ok, f"{name}: max abs error {result.max_abs:.3g} (relative {result.max_rel:.3g})"


def test_gradgradcheck_catches_a_wrong_second_derivative(monkeypatch):
    from minigan.functional import activation

    # The same first gradient, but with x detached: the twin agrees, its gradient does not.
    monkeypatch.setattr(activation.Tanh, "backward_graph",
                        lambda self, gy: gy * Tensor(1 - np.tanh(self.inputs[0].data) ** 2))
    fn, leaves = gradcheck_cases.CASES["tanh"](np.random.default_rng(0))
    assert not gradgradcheck(fn, leaves).ok


def test_gradgradcheck_catches_a_twin_that_differs_from_the_array_backward(monkeypatch):
    from minigan.functional import activation

    monkeypatch.setattr(activation.Sigmoid, "backward_graph", lambda self, gy: gy * activation.sigmoid(self.inputs[0]))
    fn, leaves = gradcheck_cases.CASES["sigmoid"](np.random.default_rng(0))
    assert not gradgradcheck(fn, leaves).ok


THIRD = {  # f, f''' by hand
    "tanh": (F.tanh, lambda x: (1 - np.tanh(x) ** 2) * (6 * np.tanh(x) ** 2 - 2)),
    "sigmoid": (F.sigmoid, lambda x: (s := 1 / (1 + np.exp(-x))) * (1 - s) * (1 - 6 * s + 6 * s * s)),
    "exp": (F.exp, np.exp),
}


@pytest.mark.parametrize("name", list(THIRD))
def test_third_derivative_of_scalar_functions(name):
    f, third = THIRD[name]
    x0 = np.linspace(-2.5, 2.5, 11)
    x = Tensor(x0.copy(), requires_grad=True)
    (g1,) = minigan.grad(f(x).sum(), x, create_graph=True)
    (g2,) = minigan.grad(g1.sum(), x, create_graph=True)
    (g3,) = minigan.grad(g2.sum(), x)
    np.testing.assert_allclose(g3.data, third(x0), rtol=1e-10, atol=1e-12)
    # and by central differences of the (recorded) second derivative
    eps = 1e-5

    def second(at):
        t = Tensor(at, requires_grad=True)
        (d1,) = minigan.grad(f(t).sum(), t, create_graph=True)
        return minigan.grad(d1.sum(), t)[0].data

    np.testing.assert_allclose(g3.data, (second(x0 + eps) - second(x0 - eps)) / (2 * eps), rtol=1e-5, atol=1e-7)


def test_grad_returns_tensors_and_leaves_dot_grad_alone():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    w = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    gx, gw = minigan.grad((x * x * w).sum(), [x, w])
    np.testing.assert_allclose(gx.data, 2 * x.data * w.data)
    np.testing.assert_allclose(gw.data, x.data ** 2)
    assert x.grad is None and w.grad is None and isinstance(gx, Tensor) and not gx.requires_grad


def test_grad_of_an_intermediate_tensor():
    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    h = x * 3.0
    (gh,) = minigan.grad((h * h).sum(), h)
    np.testing.assert_allclose(gh.data, 2 * h.data)


def test_grad_with_grad_outputs_and_several_outputs():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (g,) = minigan.grad([x * 2.0, x * x], x, grad_outputs=[np.array([1.0, 10.0]), np.array([3.0, 0.5])])
    np.testing.assert_allclose(g.data, [1 * 2 + 3 * 2 * 1, 10 * 2 + 0.5 * 2 * 2])


def test_create_graph_gives_the_hessian_vector_product():
    A = np.array([[2.0, 1.0], [1.0, 3.0]])
    x = Tensor(np.array([0.3, -0.7]), requires_grad=True)
    f = (x * Tensor(A @ x.data)).sum() * 0  # zero, but still a graph: checks accumulation with zeros
    f = f + ((x @ Tensor(A)) * x).sum() * 0.5  # f = x^T A x / 2, grad = A x, Hessian = A
    (g,) = minigan.grad(f, x, create_graph=True)
    np.testing.assert_allclose(g.data, A @ x.data)
    v = np.array([1.0, -2.0])
    (hv,) = minigan.grad((g * Tensor(v)).sum(), x)
    np.testing.assert_allclose(hv.data, A @ v)


def test_backward_create_graph_keeps_a_differentiable_grad_tensor():
    x = Tensor(np.array([0.5, 1.5]), requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    np.testing.assert_allclose(x.grad, 3 * x.data ** 2)
    assert x.grad_tensor is not None and x.grad_tensor.requires_grad
    gg = x.grad_tensor.sum()
    x.zero_grad()
    gg.backward()
    np.testing.assert_allclose(x.grad, 6 * np.array([0.5, 1.5]))


def test_gradient_penalty_through_a_conv_critic_matches_finite_differences():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((2, 1, 5, 5)), requires_grad=True)
    W = Tensor(rng.standard_normal((2, 1, 3, 3)), requires_grad=True)
    v = rng.standard_normal((1, 18))

    def penalty(W_data):
        Wt = Tensor(W_data, requires_grad=True)
        xt = Tensor(x.data, requires_grad=True)
        d = (F.leaky_relu(F.conv2d(xt, Wt), 0.2).reshape(2, 18) * Tensor(v)).sum()
        (gx,) = minigan.grad(d, xt, create_graph=True)
        return ((gx * gx).sum() - 1.0) ** 2, Wt

    p, Wt = penalty(W.data)
    (gW,) = minigan.grad(p, Wt)
    eps, numeric = 1e-6, np.zeros_like(W.data)
    for i in np.ndindex(W.shape):
        Wp, Wm = W.data.copy(), W.data.copy()
        Wp[i] += eps
        Wm[i] -= eps
        numeric[i] = (penalty(Wp)[0].item() - penalty(Wm)[0].item()) / (2 * eps)
    np.testing.assert_allclose(gW.data, numeric, rtol=1e-5, atol=1e-7)


def test_grad_only_runs_what_leads_to_the_inputs():
    calls = []

    class Spy(Function):
        def forward(self, x):
            return x * 1.0

        def backward(self, gy):
            calls.append(self.needs_input_grad)
            return gy

    x = Tensor(np.ones(3), requires_grad=True)
    w = Tensor(np.ones(3), requires_grad=True)
    y = (Spy()(w) * x).sum()
    minigan.grad(y, x)
    assert calls == []  # the branch through w never ran
    W = Tensor(np.ones((2, 3)), requires_grad=True)
    out = F.linear(x.reshape(1, 3), W).sum()
    (gx,) = minigan.grad(out, x)
    assert W.grad is None and x.grad is None
    np.testing.assert_allclose(gx.data, [2.0, 2.0, 2.0])


@pytest.mark.parametrize("call, message", [
    (lambda x: minigan.grad(x * 2.0, x), "pass grad_outputs"),
    (lambda x: minigan.grad((x * 2.0).sum(), [x, Tensor(np.ones(3), requires_grad=True)]), "not reached"),
    (lambda x: minigan.grad((x * 2.0).sum(), Tensor(np.ones(3))), "does not require a gradient"),
    (lambda x: minigan.grad(Tensor(np.ones(1)), x), "does not depend"),
    (lambda x: minigan.grad((x * 2.0).sum(), x, grad_outputs=np.ones(3)), "has shape"),
])
def test_grad_refuses_bad_calls_with_one_sentence(call, message):
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(MiniganError, match=message):
        call(x)


def test_allow_unused_gives_none():
    x = Tensor(np.ones(3), requires_grad=True)
    z = Tensor(np.ones(3), requires_grad=True)
    gx, gz = minigan.grad((x * 2.0).sum(), [x, z], allow_unused=True)
    assert gz is None and gx is not None


def test_second_backward_through_a_freed_graph_is_refused():
    x = Tensor(np.ones(3), requires_grad=True)
    y = (x.exp() * 2.0).sum()
    minigan.grad(y, x)
    with pytest.raises(MiniganError, match="already freed"):
        minigan.grad(y, x)
    y2 = (x.exp() * 2.0).sum()
    minigan.grad(y2, x, retain_graph=True)
    minigan.grad(y2, x)  # retained once: the second pass works


def test_an_op_without_a_twin_names_itself_under_create_graph():
    class Cube(Function):
        def forward(self, x):
            self.save_for_backward(x)
            return x ** 3

        def backward(self, gy):
            (x,) = self.saved
            return 3 * x * x * gy

    x = Tensor(np.ones(2), requires_grad=True)
    y = Cube()(x).sum()
    (g,) = minigan.grad(y, x)  # first order works
    np.testing.assert_allclose(g.data, [3.0, 3.0])
    with pytest.raises(MiniganError, match="Cube has no second derivative"):
        minigan.grad(Cube()(x).sum(), x, create_graph=True)


def test_double_backward_on_the_array_module(xp):
    from minigan import nn

    nn.init.manual_seed(0)
    critic = nn.Sequential(nn.Conv2d(1, 4, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(4 * 4 * 4, 1))
    x_cpu = np.random.default_rng(1).standard_normal((3, 1, 8, 8)).astype(np.float32)

    def penalty_grads(model, x_data):
        x = Tensor(x_data, requires_grad=True)
        (gx,) = minigan.grad(model(x).sum(), x, create_graph=True)
        p = ((gx * gx).sum() - 1.0) ** 2
        p.backward()
        # The biases do not change D's input gradient: they get none, as in PyTorch.
        return [None if q.grad is None else minigan.backend.to_cpu(q.grad) for q in model.parameters()]

    expected = penalty_grads(critic, x_cpu)
    if xp is np:
        assert [g is None for g in expected] == [False, True, False, True]
        assert all(np.isfinite(g).all() and np.abs(g).max() > 0 for g in expected if g is not None)
        return
    got = penalty_grads(critic.to_gpu(), xp.asarray(x_cpu))
    for e, g in zip(expected, got):
        assert (e is None) == (g is None)
        if e is not None:
            np.testing.assert_allclose(g, e, rtol=1e-3, atol=1e-4)


def test_the_readme_python_examples_run(capsys):
    """Every ```python block of the README runs as written (the second-order example among them)."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    assert "(8, 1, 4, 4)" in capsys.readouterr().out
