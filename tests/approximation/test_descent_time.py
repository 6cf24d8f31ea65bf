"""descend's flow-time record and its min_time: the time sum_t eta_t of every record, halvings included, and no
stop by the rule before a problem's min_time."""

import torch

from ntklab.approximation import descend


class Quadratic:  # L = 1/2 h u^2 + 0.01 per problem
    def __init__(self, h):
        self.h = h

    def loss_and_grad(self, p):
        return 0.5 * self.h * p["u"] ** 2 + 0.01, {"u": self.h * p["u"]}

    def select(self, rows):
        return Quadratic(self.h[rows])


def test_the_records_carry_the_flow_time_and_min_time_holds_the_rule_back():
    h, eta = torch.tensor([1.0, 1.0]), torch.tensor([0.5, 0.25], dtype=torch.float64)
    free = descend(Quadratic(h), {"u": torch.ones(2)}, eta, steps=1000, every=10, tol=0.01)
    assert free.status == ["converged", "converged"]
    cv = free.curves
    # time = eta * step for a constant step size
    assert torch.allclose(torch.tensor(cv.time.values), torch.tensor((cv.step * cv.net.map({0: 0.5, 1: 0.25})).values,
                                                                     dtype=torch.float64))
    held = descend(Quadratic(h), {"u": torch.ones(2)}, eta, steps=1000, every=10, tol=0.01,
                   min_time=torch.tensor([0.0, 200.0]))
    assert held.status == ["converged", "converged"] and held.steps_run[0] == free.steps_run[0]
    assert held.steps_run[1] >= 800 > free.steps_run[1]  # 200 / 0.25 steps at least
