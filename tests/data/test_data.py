import math

import torch

import ntklab


def test_sphere_sin_is_the_paper_recipe():
    ds = ntklab.sphere_sin(seed=3)
    assert ds.x_train.shape == (100, 50) and ds.x_test.shape == (100, 50) and ds.y_train.shape == (100, 1)
    torch.testing.assert_close(ds.x_train.norm(dim=1), torch.ones(100, dtype=torch.float64))
    clean = (5 * torch.sin(math.pi * ds.x_train)).mean(1, keepdim=True)
    resid = ds.y_train - clean
    assert 0.07 < float(resid.std()) < 0.13  # N(0, 0.1^2) noise, 100 draws: sd within ~±25 %
    again = ntklab.sphere_sin(seed=3)
    assert torch.equal(ds.x_train, again.x_train) and torch.equal(ds.y_test, again.y_test)
    assert not torch.equal(ds.x_train, ntklab.sphere_sin(seed=4).x_train)


def test_uniform_sphere_is_rotation_invariant_in_mean():
    g = torch.Generator().manual_seed(0)
    x = ntklab.data.uniform_sphere(20000, 3, generator=g)
    # E[x] = 0 and E[x x^T] = I/3 on S^2; 2e4 draws give errors ~ 0.004
    torch.testing.assert_close(x.mean(0), torch.zeros(3, dtype=torch.float64), atol=0.02, rtol=0)
    torch.testing.assert_close(x.T @ x / 20000, torch.eye(3, dtype=torch.float64) / 3, atol=0.02, rtol=0)
