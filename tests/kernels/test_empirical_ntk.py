"""Closed-form NTK of ScaledShallowNet against the generic torch.func path (float64, to 1e-10)."""

import itertools
import math

import numpy as np
import pytest
import torch

import ntklab
from ntklab.kernels import empirical_ntk_generic, shallow_mean_ntk, shallow_ntk, spectrum

SUBSETS = [s for r in (1, 2, 3) for s in itertools.combinations("Wub", r)]


def _net(trainable, *, K=1, act="relu", m=23, d=4, seed=0, gamma=0.4):
    bias = "b" in trainable or seed % 2 == 1
    lam = ntklab.node_scaling(m, kind="zipf", gamma=gamma, alpha=0.6)
    return ntklab.ScaledShallowNet(d, m, out_dim=K, lambdas=lam, activation=act, bias=bias,
                                   trainable=trainable, seed=seed, dtype=torch.float64)


@pytest.mark.parametrize("trainable", SUBSETS, ids=lambda s: "".join(s))
@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("act", ["relu", "tanh", "gelu"])
def test_closed_form_equals_autodiff(trainable, K, act):
    for seed in (0, 1):  # seed 1 turns the bias on even when it is frozen
        net = _net(trainable, K=K, act=act, seed=seed)
        x1 = torch.randn(7, 4, dtype=torch.float64)
        x2 = torch.randn(5, 4, dtype=torch.float64)
        for a, b in ((x1, None), (x1, x2)):
            closed = ntklab.empirical_ntk(net, a, b)
            generic = empirical_ntk_generic(net, a, b)
            expected_shape = (7, 7 if b is None else 5) + ((K, K) if K > 1 else ())
            assert closed.shape == expected_shape
            torch.testing.assert_close(closed, generic, rtol=1e-10, atol=1e-10)


def test_output_selection_and_blocks():
    net = _net(("W", "u"), K=3)
    x = torch.randn(9, 4, dtype=torch.float64)
    full = ntklab.empirical_ntk(net, x)
    torch.testing.assert_close(ntklab.empirical_ntk(net, x, output=1), full[:, :, 1, 1])
    torch.testing.assert_close(ntklab.empirical_ntk(net, x, output="mean"),
                               torch.diagonal(full, dim1=2, dim2=3).mean(-1))
    # blocking (3 rows a block) and symmetric assembly change nothing
    torch.testing.assert_close(shallow_ntk(net, x, block=3), full, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(shallow_ntk(net, x, x.clone(), block=2), full, rtol=1e-13, atol=1e-13)
    with pytest.raises(ValueError, match="output"):
        ntklab.empirical_ntk(net, x, output=3)


def test_paper_formula_w_only():
    """Theta = (X X^T / d) o (S diag(lambda) S^T), S_ij = 1{w_j^T x_i > 0} (papers.md §1(b))."""
    net = _net(("W",), m=50, d=6)
    x = torch.randn(8, 6, dtype=torch.float64)
    s = (x @ net.W.T > 0).double()
    expected = (x @ x.T / 6) * (s @ torch.diag(net.lambdas) @ s.T)
    torch.testing.assert_close(ntklab.empirical_ntk(net, x), expected, rtol=1e-13, atol=1e-15)


def test_generic_implementations_agree():
    model = torch.nn.Sequential(torch.nn.Linear(3, 12), torch.nn.Tanh(), torch.nn.Linear(12, 2)).double()
    x1, x2 = torch.randn(6, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    a = empirical_ntk_generic(model, x1, x2, implementation="jacobian", chunk_size=4)
    b = empirical_ntk_generic(model, x1, x2, implementation="ntvp", chunk_size=3)
    torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-12)
    # an independent oracle: explicit per-example autograd Jacobian rows
    rows1 = [torch.cat([g.flatten() for g in torch.autograd.grad(model(x1[i:i + 1])[0, k], model.parameters())])
             for i in range(6) for k in range(2)]
    rows2 = [torch.cat([g.flatten() for g in torch.autograd.grad(model(x2[i:i + 1])[0, k], model.parameters())])
             for i in range(4) for k in range(2)]
    j1, j2 = torch.stack(rows1).view(6, 2, -1), torch.stack(rows2).view(4, 2, -1)
    torch.testing.assert_close(a, torch.einsum("akp,blp->abkl", j1, j2), rtol=1e-11, atol=1e-12)
    sym = empirical_ntk_generic(model, x1, chunk_size=4)
    torch.testing.assert_close(sym, empirical_ntk_generic(model, x1, x1.clone()), rtol=1e-12, atol=1e-13)


def test_float32_matches_float64():
    net64 = _net(("W", "u"), m=400, d=10)
    net32 = _net(("W", "u"), m=400, d=10).float()  # same draws, lambdas rounded to float32
    x = torch.randn(30, 10, dtype=torch.float64)
    k64 = ntklab.empirical_ntk(net64, x)
    k32 = ntklab.empirical_ntk(net32, x.float())
    assert k32.dtype == torch.float32
    # float32 sums of m = 400 terms of size ~1/m: relative error ~ sqrt(m) * 6e-8 << 1e-5
    torch.testing.assert_close(k32.double(), k64, rtol=1e-5, atol=1e-7)


def _sphere(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ntklab.data.uniform_sphere(n, d, generator=g)


@pytest.mark.parametrize("act,trainable,bias", [("relu", ("W",), False), ("relu", ("W", "u", "b"), True),
                                                ("tanh", ("W", "u"), False), ("erf", ("W", "b"), True)])
def test_mean_kernel_is_the_monte_carlo_average(act, trainable, bias):
    """E_W[Theta(W_0)] (closed form / quadrature) against the average over random nets."""
    x = _sphere(6, 5)
    kbar = shallow_mean_ntk(x, activation=act, trainable=trainable, bias_var=1.0 if bias else 0.0)
    m, reps = 4000, 25
    acc = torch.zeros(6, 6, dtype=torch.float64)
    for seed in range(reps):
        net = ntklab.ScaledShallowNet(5, m, activation=act, bias=bias, trainable=trainable, seed=seed).double()
        acc += ntklab.empirical_ntk(net, x)
    mc = acc / reps
    # MC standard error of an average of m*reps = 1e5 i.i.d. node terms of O(1) size: ~ 3e-3 relative
    torch.testing.assert_close(mc, kbar, rtol=0.03, atol=0.03 * float(kbar.abs().max()))


def test_gamma_one_lambda_min_converges_to_mean_kernel():
    x = _sphere(40, 8, seed=1)
    lam_k = float(spectrum(shallow_mean_ntk(x))[0])
    errs = []
    for m in (500, 2000, 8000):
        vals = [float(spectrum(ntklab.empirical_ntk(ntklab.ScaledShallowNet(8, m, seed=s).double(), x))[0])
                for s in range(3)]
        errs.append(abs(np.mean(vals) / lam_k - 1))
    assert errs[0] > errs[2] and errs[2] < 0.05, errs


def test_gamma_below_one_limit_stays_random():
    """For gamma < 1 the spread of lambda_min(Theta_0) over seeds does not vanish as m grows."""
    x = _sphere(20, 6, seed=2)
    spread = []
    for m in (500, 4000):
        lam = ntklab.node_scaling(m, kind="zipf", gamma=0.0, alpha=0.4)
        vals = [float(spectrum(ntklab.empirical_ntk(ntklab.ScaledShallowNet(6, m, lambdas=lam, seed=s).double(),
                                                   x))[0]) for s in range(8)]
        spread.append(np.std(vals) / np.mean(vals))
    assert spread[1] > 0.5 * spread[0] and spread[1] > 0.05, spread


def test_bias_and_u_terms_of_paper_network_diag():
    """Diagonal of Theta for W-only ReLU on the sphere: (|x|^2/d) sum_j lambda_j 1{w_j x > 0}."""
    net = _net(("W",), m=100, d=3)
    x = torch.randn(5, 3, dtype=torch.float64)
    diag = torch.diagonal(ntklab.empirical_ntk(net, x))
    expected = (x * x).sum(1) / 3 * ((x @ net.W.T > 0).double() @ net.lambdas)
    torch.testing.assert_close(diag, expected)
    assert math.isclose(float(net.lambdas.sum()), 1.0)
