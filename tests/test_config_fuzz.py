"""Fuzzing config validation: hypothesis builds run configs from per-field pools of valid and invalid values.

An independent oracle (the documented rules, written here without the pydantic models) says whether each
generated config is valid; ``config_from_dict`` must accept exactly the valid ones and refuse every invalid one
with a one-line ``ConfigError`` naming a field that was made invalid, never another exception.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ntklab import ConfigError
from ntklab.config import RunConfig, config_from_dict
from ntklab.optim import OPTIMIZERS
from ntklab.nets._activations import ACTIVATIONS
from ntklab.nets._node_scaling import SCALING_KINDS
from ntklab.runs import run_id

# strings that no lax parser reads as a number or a boolean
WORD = st.text(alphabet="abcdefxyz_", min_size=0, max_size=8).map(lambda s: "q" + s)
NOT_NUMBER = st.one_of(WORD, st.none(), st.lists(st.integers(), max_size=2), st.dictionaries(WORD, st.integers(), max_size=1))
NOT_INT = st.one_of(NOT_NUMBER, st.floats(allow_nan=True).filter(lambda x: not (math.isfinite(x) and x == int(x))))
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])


def ints(lo=None, hi=None):
    return st.integers(min_value=lo, max_value=hi)


def choice(valid):
    return st.sampled_from(sorted(valid)), st.one_of(WORD.filter(lambda s: s not in valid), st.none(), st.integers())


# dotted field -> (valid values, invalid values)
FIELDS = {
    "seed": (ints(0, 2**32 - 1), st.one_of(ints(hi=-1), ints(2**32), NOT_INT)),
    "dtype": choice({"float32", "float64"}),
    "network.kind": choice({"shallow", "mlp"}),
    "network.width": (ints(1, 10**7), st.one_of(ints(hi=0), NOT_INT)),
    "network.depth": (ints(1, 100), st.one_of(ints(hi=0), NOT_INT)),
    "network.activation": choice(set(ACTIVATIONS)),
    "network.weight_std": (st.floats(0, 1e6), st.one_of(st.floats(max_value=-1e-9), NON_FINITE, NOT_NUMBER)),
    "network.scaling.kind": choice(set(SCALING_KINDS)),
    "network.scaling.gamma": (st.floats(0, 1), st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1 + 1e-9),
                                                         NON_FINITE, NOT_NUMBER)),
    "network.scaling.alpha": (st.floats(0, 1, exclude_min=True, exclude_max=True),
                              st.one_of(st.floats(max_value=0), st.floats(min_value=1), NON_FINITE, NOT_NUMBER)),
    "optimizer.name": choice(set(OPTIMIZERS)),
    "optimizer.lr": (st.floats(1e-300, 1e300), st.one_of(st.floats(max_value=0), NON_FINITE, NOT_NUMBER)),
    "optimizer.momentum": (st.floats(0, 1, exclude_max=True),
                           st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1), NON_FINITE, NOT_NUMBER)),
    "optimizer.betas": (st.lists(st.floats(0, 1, exclude_max=True), min_size=2, max_size=2),
                        st.one_of(st.lists(st.floats(0, 0.5), min_size=3, max_size=4),
                                  st.tuples(st.floats(0, 0.5), st.floats(min_value=1)).map(list), NOT_NUMBER)),
    "training.steps": (ints(0, 10**9), st.one_of(ints(hi=-1), NOT_INT)),
    "training.loss": choice({"mse", "cross_entropy"}),
    "training.batch_size": (st.one_of(st.none(), ints(1, 10**6)), st.one_of(ints(hi=0), WORD)),
    "training.divergence_threshold": (st.floats(1e-300, 1e300), st.one_of(st.floats(max_value=0), NON_FINITE, WORD)),
    "probes.every": (ints(1, 10**6), st.one_of(ints(hi=0), NOT_INT)),
    "probes.top_nodes": (ints(0, 100), st.one_of(ints(hi=-1), NOT_INT)),
    "probes.checkpoint_every": (st.one_of(st.none(), ints(1, 10**6)), st.one_of(ints(hi=0), WORD)),
    "probes.ntk_output": (st.one_of(ints(0, 10), st.just("mean")), WORD),
    "network.trainable": (st.lists(st.sampled_from(["W", "u"]), min_size=1, max_size=2, unique=True),
                          st.one_of(st.just([]), st.lists(WORD, min_size=1, max_size=2), st.none())),
    "network.bias": (st.booleans(), st.lists(st.integers(), min_size=1, max_size=1)),
}


@st.composite
def mutated_configs(draw):
    data = RunConfig().model_dump(mode="json")
    bad: set[str] = set()
    for path in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=5, unique=True)):
        invalid = draw(st.booleans())
        value = draw(FIELDS[path][1] if invalid else FIELDS[path][0])
        node = data
        *parents, leaf = path.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
        if invalid:
            bad.add(path)
    if draw(st.booleans()) and draw(st.booleans()):  # a bias-only trainable set without a bias
        data["network"]["trainable"], data["network"]["bias"] = ["W", "b"], False
        bad.add("network.trainable")
    if draw(st.integers(0, 9)) == 0:  # an unknown field somewhere
        where = draw(st.sampled_from(["", "network", "network.scaling", "optimizer", "probes"]))
        node = data
        for p in filter(None, where.split(".")):
            node = node[p]
        key = draw(WORD)
        node[key] = 1
        bad.add(f"{where}.{key}".lstrip("."))
    if draw(st.integers(0, 19)) == 0:  # a whole section of the wrong type
        section = draw(st.sampled_from(["network", "optimizer", "training", "probes", "data"]))
        data[section] = draw(st.one_of(st.integers(), st.lists(st.integers(), max_size=2), WORD))
        bad = {p for p in bad if not p.startswith(section + ".")} | {section}
    return data, bad


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_configs())
def test_config_validation_accepts_exactly_the_valid_configs(case):
    data, bad = case
    try:
        cfg = config_from_dict(data)
    except ConfigError as exc:
        assert bad, f"a valid config was refused: {exc}"
        text = str(exc)
        assert "\n" not in text and text.startswith(exc.field + ":")
        # the error names one of the fields that was made invalid (or its section)
        assert any(exc.field == b or exc.field.startswith(b + ".") or b.startswith(exc.field + ".")
                   for b in bad), (exc.field, bad)
        return
    assert not bad, f"invalid fields {sorted(bad)} were accepted"
    again = config_from_dict(cfg.model_dump(mode="json"))  # a stored config reloads to the same run
    assert again == cfg and run_id(again.model_dump(mode="json")) == run_id(cfg.model_dump(mode="json"))
