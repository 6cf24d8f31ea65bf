import pytest

from ntklab import ConfigError
from ntklab.config import RunConfig, apply_overrides, config_from_dict, load_config


def test_overrides_are_parsed_and_validated():
    cfg = apply_overrides(RunConfig(), ["network.width=64", "network.scaling.gamma=0.25", "optimizer.name=adam",
                                        "data.options.n_train=12", "network.trainable=[W, u]"])
    assert cfg.network.width == 64 and cfg.network.scaling.gamma == 0.25
    assert cfg.optimizer.name == "adam" and cfg.data.options == {"n_train": 12}
    assert cfg.network.trainable == ["W", "u"]


@pytest.mark.parametrize("override,field,allowed", [
    ("network.scaling.gamma=1.5", "network.scaling.gamma", "[0, 1]"),
    ("network.scaling.alpha=1", "network.scaling.alpha", "(0, 1)"),
    ("network.activation=swish", "network.activation", "relu"),
    ("optimizer.name=lbfgs", "optimizer.name", "gd"),
    ("network.width=0", "network.width", "greater than or equal to 1"),
    ("network.depht=3", "network.depht", "depth"),
    ("training.loss=l1", "training.loss", "mse"),
    ("optimizer.lr=-1", "optimizer.lr", "greater than 0"),
])
def test_bad_values_name_field_and_allowed_values(override, field, allowed):
    with pytest.raises(ConfigError) as exc:
        apply_overrides(RunConfig(), [override])
    assert exc.value.field == field
    assert allowed in str(exc.value)
    assert "\n" not in str(exc.value)


def test_unknown_nested_field_lists_allowed():
    with pytest.raises(ConfigError) as exc:
        config_from_dict({"network": {"widht": 3}})
    assert exc.value.field == "network.widht"
    assert "width" in str(exc.value)


def test_load_config_files(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: x\nnetwork:\n  width: 10\n")
    assert load_config(p).network.width == 10
    bad = tmp_path / "bad.yaml"
    bad.write_text("network: [1, 2\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
