r"""Bu, Xu & Chen (2021): GD, heavy ball and Nesterov on an over-parameterised ReLU net, against the NTK.

Network (papers.md §4(a)): f(x) = sum_r u_r sqrt(1/m) relu(w_r^T x / sqrt(d)), u_r = +-1 frozen, W trained
(``ntklab.ScaledShallowNet`` with the NTK scaling lambda_r = 1/m), w_r(0) ~ N(0, d I): with v_r = w_r / sqrt(d)
this is the paper's f = m^{-1/2} sum_r a_r relu(v_r^T x), v_r ~ N(0, I).  (The kernel does not depend on the
init scale, but the weights' relative movement does: the core default N(0, 2 I) moves sqrt(d/2) times more.)
Data: n points uniform on S^{d-1} with +-1 labels (``sphere_random``).  Loss: the training loop's MSE (mean over
samples), so in function space e_{k+1} = e_k - eta A e_k (+ momentum) with A = (2/n) Theta.

Hyper-parameters come from the infinite-width kernel K (Theta_0 -> K as m -> infinity), so every width and
seed shares them: eta0 = lr_factor / lambda_max(2K/n); HB beta = 1 - gamma sqrt(eta) with
gamma = damping_factor sqrt(lambda_min) (the paper's HB-ODE parameterisation, papers.md §4(a); 2 sqrt(lambda_min),
the default, is the paper's best choice and damps the slowest mode critically); NAG-SC
beta = (1 - sqrt(eta lambda_min)) / (1 + sqrt(eta lambda_min)); NAG beta_k = (k-1)/(k+2).  Every run stores
Theta_0 and e_0 in ``init/<run directory name>.npz`` (name and config hash, written before training).

Two references, compared like with like (each fitted on the measured fit's own window):

- the *discrete* linearised recursion e_{k+1} = e_k - eta A_0 e_k (+ momentum) from the run's own Theta_0 and
  e_0 (:class:`ntklab.dynamics.FunctionSpaceModes`), exact for the linearised network at the run's eta: the
  reference for a finite-step run;
- the ODE limits (gradient flow in t = k eta, the HB and NAG ODEs in t = k sqrt(eta)), which hold only as
  eta -> 0.  An eta sweep tests them: at the largest width HB and NAG also run at eta0/q for q in
  ``eta_divisors`` (default 1, 4, 16; perfect squares) for sqrt(q) times the steps, probed sqrt(q) times less
  often, so that every run of the sweep covers the same ODE time t = k sqrt(eta) on the same time grid.  HB keeps
  its gamma (beta = 1 - gamma sqrt(eta / q)), so all runs of the sweep discretise one ODE.

Claims (PASS/FAIL with the numbers, at the largest width unless said otherwise; Bu et al. 2021 as summarised in
papers.md §4):
  1. no run diverged;
  2. GD and HB: log-loss tail is a straight line (R^2 >= 0.99 for every seed), HB's rate beats GD's;
     NAG (beta_k): log-log tail slope <= -2 while the semilog fit is not linear (R^2 < 0.99);
  3. the gap between the real and the predicted loss curves shrinks as m grows: for every method and seed its
     log-log slope against m is negative (theory: sup_k ||e_k - e^_k|| = O(m^-1/2)), the gap measured as
     max_k |sqrt(L_k) - sqrt(L^_k)| / sqrt(L_0) (a lower bound on ||e_k - e^_k|| / ||e_0||) and as
     max_k |log(L_k / L^_k)|;
  4. the measured rates are within 20 % of the discrete prediction's (GD, HB, NAG-SC: the semilog rate; NAG: the
     log-log power and the rate of L k^3), the asymptotic -2 log rho and the ODE's shown beside;
  5. eta sweep: as eta shrinks, HB's loss rate per unit time t = k sqrt(eta) and NAG's log-log power approach
     the ODE's (fitted on the same window of t; NAG's envelope is t^-3): for every seed the relative distance
     falls at each step of the sweep.  Theory of the distance: NAG's discrete factor (1 - eta lambda)^k =
     exp(-sqrt(eta) lambda t) makes it O(sqrt(eta)); HB at the critical damping gamma = 2 sqrt(lambda_min) only
     O(eta^1/4) (the discrete characteristic roots of the slowest mode split by O(eta^3/4) where the ODE's
     coincide), so the asymptotic -2 log rho is still 29 %, 22 %, 16 % off the ODE's at eta0/1, /4, /16 here.
Each is decided seed by seed (support "k/n seeds"; claim 3 per method and seed over the widths) and declares its
preconditions (:mod:`ntklab.experiments.momentum._verdicts`): the runs it reads are there, finished and not
diverged; a tail fit has >= 3 steps and the loss fell tenfold across its window; a trend in m has >= 3 widths;
an eta sweep has >= 3 step sizes.  The kernel drift ||Theta_T - Theta_0|| / ||Theta_0|| and the weights'
relative movement are reported against m: they say how lazy each width is.

Widths: the lazy regime the claims assume needs the weights to move little (relative movement 0.34-0.76 at
m = 50-200, 0.07 at m = 3200 here; the kernel drifts 7 % at m = 200, 0.5 % at m = 12800), so quick runs
m = 800, 3200, 12800 and default 1000, 4000, 16000 (the widths papers.md §4(c) proposes), a factor 4 apart: the
O(m^-1/2) gap halves between neighbouring widths, while one width's gap carries an O(1) random factor of its
initialisation (about +-25 % from seed to seed), so the trend is read as a slope over the whole range.  Torch and numpy's BLAS run on ``threads`` threads (default 1: on a shared
2-core machine two threads contend and run these small products up to 30x slower, a 100 x 100 eigh 100x).
"""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import torch
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from threadpoolctl import threadpool_limits
from typing_extensions import Annotated

from ..._errors import ConfigError, one_of, within
from ..._io import atomic_save_npz, atomic_write_json
from ..._threads import torch_threads
from ...config import RunConfig
from ...data import load_dataset
from ...dynamics._predictions import METHODS, check_stability
from ...kernels import empirical_ntk, shallow_mean_ntk
from ...nets import build_network
from ...runs import run_dir, train_many
from .._registry import Preset
from ._analysis import analyse_momentum, init_path

__all__ = ["MomentumOptions", "hyperparameters", "run_config", "run_configs", "ETA_METHODS"]

ETA_METHODS = ("heavy_ball", "nag")  # the eta sweep: the methods whose ODE runs on t = k sqrt(eta)


def _perfect_squares(v: list[int]) -> list[int]:
    bad = [q for q in v if math.isqrt(q) ** 2 != q]
    if bad:
        raise ValueError(f"got {bad} (allowed: perfect squares 1, 4, 9, 16, ...: steps x sqrt(q) must be whole)")
    return sorted({1, *v})


Methods = Annotated[list[str], Field(min_length=1), AfterValidator(one_of(METHODS, each=True)),
                    AfterValidator(lambda v: list(dict.fromkeys(v)))]
Widths = Annotated[list[int], Field(min_length=1), AfterValidator(within(1, each=True)),
                   AfterValidator(lambda v: sorted(set(v)))]
Divisors = Annotated[list[int], AfterValidator(within(1, each=True)), AfterValidator(_perfect_squares)]


class MomentumOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n_train: int = Field(100, ge=2)
    n_test: int = Field(20, ge=1)
    d: int = Field(20, ge=2)
    labels: str = "sign"
    data_seed: int = 0
    widths: Widths = Field(default_factory=lambda: [1000, 4000, 16000])
    seeds: int = Field(3, ge=1)
    steps: int = Field(300, ge=10)
    every: int = Field(3, ge=1)
    methods: Methods = Field(default_factory=lambda: list(METHODS))
    eta_divisors: Divisors = Field(default_factory=lambda: [1, 4, 16])
    weight_std: float | None = Field(None, gt=0)  # None: sqrt(d), the paper's w ~ N(0, I) on relu(w^T x)
    lr_factor: float = Field(1.0, gt=0)
    damping_factor: float = Field(2.0, ge=0)
    dtype: Literal["float32", "float64"] = "float64"
    rate_tolerance: float = Field(0.2, gt=0)
    r2_threshold: float = Field(0.99, gt=0, le=1)
    floor: float = Field(1e-24, gt=0, lt=1)
    threads: int = Field(1, ge=0)  # torch intra-op threads while training (0: leave torch's setting)


def _dataset(o: MomentumOptions):
    return load_dataset("sphere_random", n_train=o.n_train, n_test=o.n_test, d=o.d, labels=o.labels,
                        seed=o.data_seed)


def hyperparameters(o: MomentumOptions) -> dict:
    """eta0 and the momenta from the infinite-width kernel's spectrum (A = 2K/n), checked for stability;
    ``hb_gamma`` is the HB ODE's damping gamma = (1 - beta) / sqrt(eta), kept fixed across the eta sweep."""
    x = _dataset(o).x_train
    a = 2.0 / o.n_train * torch.linalg.eigvalsh(shallow_mean_ntk(x)).numpy()
    lam_min, lam_max = float(a[0]), float(a[-1])
    lr = o.lr_factor / lam_max
    gamma = o.damping_factor * math.sqrt(lam_min)
    beta_hb = 1 - gamma * math.sqrt(lr)
    if not 0 <= beta_hb < 1:
        raise ConfigError("damping_factor", f"gives heavy-ball beta = {beta_hb:.4g} outside [0, 1)",
                          allowed=f"[0, {1 / math.sqrt(lam_min * lr):.4g}) with this lr_factor")
    root = math.sqrt(lr * lam_min)
    momenta = {"gd": 0.0, "heavy_ball": beta_hb, "nag": 0.0, "nag_sc": (1 - root) / (1 + root)}
    for m in o.methods:
        check_stability(m, lr=lr, momentum=momenta[m], lambda_max=lam_max, field="lr_factor")
    return {"lambda_min_inf": lam_min, "lambda_max_inf": lam_max, "lr": lr, "momentum": momenta,
            "kappa_inf": lam_max / lam_min, "hb_gamma": gamma}


def run_name(method: str, width: int, seed: int, divisor: int = 1) -> str:
    """``hb-m4000-s0`` at eta0; ``hb-m4000-eta16-s0`` at eta0 / 16."""
    return f"{method}-m{width}-s{seed}" if divisor == 1 else f"{method}-m{width}-eta{divisor}-s{seed}"


def run_config(o: MomentumOptions, hyper: dict, *, method: str, width: int, seed: int,
               divisor: int = 1) -> RunConfig:
    """One run at eta0 / ``divisor`` for sqrt(divisor) times the steps (the same ODE time t = k sqrt(eta))."""
    lr, root = hyper["lr"] / divisor, math.isqrt(divisor)
    momentum = hyper["momentum"][method]
    if divisor > 1 and method == "heavy_ball":  # the same ODE: gamma = (1 - beta0) / sqrt(eta0) stays fixed
        momentum = 1 - (1 - momentum) * math.sqrt(lr / hyper["lr"])
    steps = o.steps * root
    return RunConfig(
        name=run_name(method, width, seed, divisor), seed=seed, dtype=o.dtype,
        data={"name": "sphere_random", "options": {"n_train": o.n_train, "n_test": o.n_test, "d": o.d,
                                                   "labels": o.labels, "seed": o.data_seed}},
        network={"kind": "shallow", "width": width, "activation": "relu", "trainable": ["W"],
                 "weight_std": o.weight_std or math.sqrt(o.d), "scaling": {"kind": "ntk"}},
        optimizer={"name": method, "lr": lr, "momentum": momentum},
        training={"steps": steps, "loss": "mse"},
        probes={"every": min(o.every * root, steps), "ntk": True, "top_nodes": 0},
    )


def _store_init(cfg: RunConfig, data, path: Path) -> None:
    """Theta_0 (closed form) and e_0 = f(x; theta_0) - y of the run's initial network."""
    if path.exists():
        return
    dtype = torch.float64
    net = build_network(cfg.network, d=data.d, out_dim=data.out_dim, seed=cfg.seed, dtype=dtype)
    x = data.x_train.to(dtype)
    with torch.no_grad():
        e0 = (net(x) - data.y_train.to(dtype)).numpy()
    atomic_save_npz(path, theta0=empirical_ntk(net, x).numpy(), e0=e0)


@contextmanager
def _threads(n: int):
    """``n`` torch intra-op threads and ``n`` BLAS threads for numpy (0: both unchanged)."""
    with torch_threads(n), threadpool_limits(n or None):
        yield


def execute(o: MomentumOptions, out: Path, progress: bool) -> None:
    hyper = hyperparameters(o)
    atomic_write_json(out / "hyper.json", hyper)
    cfgs = run_configs(o, hyper)
    data = _dataset(o)
    with _threads(o.threads):
        for c in cfgs:  # before training, so that a run that ends early still has its initial state
            _store_init(c, data, init_path(out, run_dir(out / "runs", c.model_dump(mode="json")).name))
        train_many(cfgs, out=out / "runs", progress=progress, desc="momentum")


def run_plan(o: MomentumOptions) -> list[tuple[str, int, int, int]]:
    """(method, width, seed, eta divisor) of every run: each width x method x seed at eta0, then the eta sweep
    (HB and NAG at the largest width, eta0 / q for q > 1)."""
    top = max(o.widths)
    main = [(meth, m, s, 1) for m in o.widths for meth in o.methods for s in range(o.seeds)]
    sweep = [(meth, top, s, q) for meth in o.methods if meth in ETA_METHODS for q in o.eta_divisors if q > 1
             for s in range(o.seeds)]
    return main + sweep


def run_configs(o: MomentumOptions, hyper: dict) -> list[RunConfig]:
    """The configs of :func:`run_plan`, at the learning rates and momenta of ``hyper``."""
    return [run_config(o, hyper, method=meth, width=m, seed=s, divisor=q) for meth, m, s, q in run_plan(o)]


def analyse(o: MomentumOptions, out: Path):
    hyper = json.loads((out / "hyper.json").read_text())
    with _threads(o.threads):
        return analyse_momentum(o, out, hyper, run_configs(o, hyper), run_plan(o))


PRESET = Preset(
    name="momentum",
    description="Bu et al.: GD and heavy ball converge linearly, NAG (β_k=(k-1)/(k+2)) sublinearly; the real "
                "net follows the discrete linearised recursion more closely as m grows, and the ODE limits as "
                "η shrinks.",
    paper="Bu, Xu & Chen 2021",
    options=MomentumOptions,
    execute=execute,
    analyse=analyse,
    modes={
        "quick": {"widths": [800, 3200, 12800], "seeds": 2, "steps": 120, "every": 6},
        "full": {"widths": [1000, 4000, 16000], "seeds": 5, "steps": 600, "every": 3,
                 "eta_divisors": [1, 4, 16, 64]},
    },
)
