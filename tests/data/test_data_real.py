"""Real-data sources: the paper's preparation, bundled sets, user files, UCI readers, MNIST IDX."""

from __future__ import annotations

import gzip
import io
import zipfile

import numpy as np
import pytest
import torch

from ntklab import ConfigError
from ntklab.data import load_dataset, paper_split, read_idx


def test_paper_split_by_hand():
    x = np.arange(60.0).reshape(20, 3) ** 1.5
    y = np.arange(20.0) * 2 + 1
    ds = paper_split("toy", x, y)
    perm = np.random.RandomState(10).permutation(20)  # the authors' permutation
    xp, yp = x[perm], y[perm]
    tr, va = slice(0, 8), slice(8, 16)  # int(0.4 * 20) = 8, 8, rest 4
    mean, std = xp[tr].mean(0), xp[tr].std(0)
    np.testing.assert_allclose(ds.x_train.numpy(), (xp[tr] - mean) / std, rtol=1e-12)
    np.testing.assert_allclose(ds.x_test.numpy(), (xp[16:] - mean) / std, rtol=1e-12)
    ym, ys = yp[tr].mean(), yp[tr].std()
    np.testing.assert_allclose(ds.y_test.numpy()[:, 0], (yp[16:] - ym) / ys, rtol=1e-12)
    t = ds.extra["transfer"]  # the valid split cut 50/50, in order, not re-standardised
    np.testing.assert_allclose(t["x_train"].numpy(), (xp[va][:4] - mean) / std, rtol=1e-12)
    np.testing.assert_allclose(t["y_test"].numpy()[:, 0], (yp[va][4:] - ym) / ys, rtol=1e-12)


def test_data_too_small_for_the_split_is_refused_naming_the_minimum(tmp_path):
    """A 3-row file used to give n_train = 1 and claims of "nan% off" with PASS."""
    with pytest.raises(ConfigError, match=r"3 rows are too few .*1 train, 1 valid, 1 test.*at least 20 rows"):
        paper_split("tiny", np.arange(9.0).reshape(3, 3), np.arange(3.0))
    f = tmp_path / "tiny.csv"
    f.write_text("a,b,y\n1,2,3\n4,5,6\n7,8,10\n")
    with pytest.raises(ConfigError, match=r"^data: .*tiny.csv.*at least 20 rows"):
        load_dataset("csv", path=str(f))
    assert paper_split("ok", np.random.default_rng(0).normal(size=(20, 2)), np.arange(20.0)).x_train.shape[0] == 8


def test_paper_split_classification_and_constant_column():
    x = np.c_[np.arange(20.0), np.ones(20)]
    ds = paper_split("c", x, np.arange(20) % 3, task="classification", n_classes=3)
    assert ds.task == "classification" and ds.n_classes == 3
    assert torch.all(ds.y_train.sum(1) == 1) and set(ds.y_train.unique().tolist()) == {0.0, 1.0}
    assert torch.isfinite(ds.x_test).all() and torch.all(ds.x_train[:, 1] == 0)  # std 0: only centred


def test_bundled_sets():
    d = load_dataset("diabetes")
    assert d.x_train.shape == (176, 10) and d.x_test.shape == (90, 10)
    np.testing.assert_allclose(d.x_train.mean(0).numpy(), 0, atol=1e-12)
    g = load_dataset("digits")
    assert g.x_train.shape == (718, 64) and g.y_train.shape == (718, 10) and g.task == "classification"
    assert 0 <= float(g.x_train.min()) and float(g.x_train.max()) <= 1  # pixels / 16, not standardised
    for w, dim in ((1, 7), (2, 4), (3, 4)):
        f = load_dataset(f"friedman{w}", n_samples=50, n_features=7)
        assert f.x_train.shape == (20, dim)
    m = load_dataset("mnist1d", num_samples=100)
    assert m.x_train.shape == (40, 40) and m.out_dim == 10
    with pytest.raises(ConfigError, match="data.num_samples"):
        load_dataset("mnist1d", num_samples=3)


def _csv(tmp_path, text, name="t.csv"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_csv_target_by_name_and_index(tmp_path):
    rows = "".join(f"{i},{i * i % 7},{3 * i + 1}\n" for i in range(20))
    p = _csv(tmp_path, "a,b,y\n" + rows)
    by_name = load_dataset("csv", path=p, target="y")
    by_index = load_dataset("csv", path=p, target=2)
    assert torch.equal(by_name.x_train, by_index.x_train) and by_name.extra["features"] == ["a", "b"]
    other = load_dataset("csv", path=p, target="a", features=["b"])
    assert other.d == 1


@pytest.mark.parametrize("text, target, match", [
    ("a,y\n1,2\n2,x3\n", "y", r"t\.csv: column 'y', data row 2: non-numeric value 'x3'"),
    ("a,y\n1,2\nnan,3\n", "y", r"t\.csv: column 'a', data row 2: missing value \(NaN\)"),
    ("a,y\n1,2\n,3\n", "y", r"t\.csv: column 'a', data row 2: non-numeric value ''"),
    ("a,y\n1,2\n2,3\n", "z", r"data\.target: .*t\.csv: no column 'z' \(allowed: 'a', 'y'"),
])
def test_csv_errors_name_file_and_column(tmp_path, text, target, match):
    with pytest.raises(ConfigError, match=match):
        load_dataset("csv", path=_csv(tmp_path, text), target=target)


def test_missing_file(tmp_path):
    for name in ("csv", "npz", "concrete", "naval", "mnist_idx"):
        with pytest.raises(ConfigError, match=r"data\.path: file .*nope.* does not exist"):
            load_dataset(name, path=str(tmp_path / "nope"))


def test_npz(tmp_path):
    x = np.random.default_rng(0).normal(size=(30, 4))
    np.savez(tmp_path / "a.npz", x=x, y=np.arange(30) % 2)
    ds = load_dataset("npz", path=str(tmp_path / "a.npz"), task="classification")
    assert ds.x_train.shape == (12, 4) and ds.n_classes == 2
    one = load_dataset("npz", path=str(tmp_path / "a.npz"), target=0)
    assert one.d == 3
    with pytest.raises(ConfigError, match="data.x_key.*no array 'z'"):
        load_dataset("npz", path=str(tmp_path / "a.npz"), x_key="z")
    x[3, 1] = np.nan
    np.savez(tmp_path / "b.npz", x=x, y=np.arange(30.0))
    with pytest.raises(ConfigError, match=r"b\.npz: column 'x\[:, 1\]', data row 4: missing value"):
        load_dataset("npz", path=str(tmp_path / "b.npz"))


def _table(n=30, cols=9, seed=0):
    return np.round(np.random.default_rng(seed).uniform(1, 100, size=(n, cols)), 3)


def _xlsx_bytes(header, data):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for row in data:
        ws.append([float(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _check_uci(ds, data, n_x, y_col):
    """The reader's x and y equal the fixture's columns after the paper's preparation."""
    ref = paper_split("ref", data[:, :n_x], data[:, y_col])
    np.testing.assert_allclose(ds.x_train.numpy(), ref.x_train.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ds.y_test.numpy(), ref.y_test.numpy(), rtol=1e-12)


def test_concrete_xls(tmp_path):
    xlwt = pytest.importorskip("xlwt")  # writes a real Excel 97 .xls (BIFF8), as UCI's Concrete_Data.xls
    data = _table()
    wb = xlwt.Workbook()
    ws = wb.add_sheet("Sheet1", cell_overwrite_ok=True)
    for j in range(9):
        ws.write(0, j, f"Component {j} (kg in a m^3 mixture)")
    for i, row in enumerate(data):
        for j, v in enumerate(row):
            ws.write(i + 1, j, float(v))
    p = tmp_path / "Concrete_Data.xls"
    wb.save(str(p))
    _check_uci(load_dataset("concrete", path=str(p)), data, 8, 8)
    ws.write(5, 3, "oops")
    wb.save(str(p))
    with pytest.raises(ConfigError, match=r"Concrete_Data\.xls: column 'Component 3 .*', data row 5: non-numeric"):
        load_dataset("concrete", path=str(p))


def test_energy_xlsx(tmp_path):
    data = _table(cols=10)
    p = tmp_path / "ENB2012_data.xlsx"
    p.write_bytes(_xlsx_bytes([f"X{j + 1}" for j in range(8)] + ["Y1", "Y2"], data))
    _check_uci(load_dataset("energy", path=str(p)), data, 8, 8)
    with pytest.raises(ConfigError, match=r"ENB2012_data\.xlsx: no column 'Y3'"):
        load_dataset("energy", path=str(p), target="Y3")


def test_airfoil_dat(tmp_path):
    data = _table(cols=6)
    p = tmp_path / "airfoil_self_noise.dat"
    p.write_text("".join("\t".join(f"{v:g}" for v in row) + "\n" for row in data))
    _check_uci(load_dataset("airfoil", path=str(p)), data, 5, 5)


def test_ccpp_zip(tmp_path):
    data = _table(cols=5)
    p = tmp_path / "CCPP.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("CCPP/Readme.txt", "power plant")
        z.writestr("CCPP/Folds5x2_pp.xlsx", _xlsx_bytes(["AT", "V", "AP", "RH", "PE"], data))
    _check_uci(load_dataset("ccpp", path=str(p)), data, 4, 4)
    _check_uci(load_dataset("plant", path=str(p)), data, 4, 4)


def test_naval_zip(tmp_path):
    data = _table(cols=18)
    p = tmp_path / "UCI CBM Dataset.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("UCI CBM Dataset/data.txt", "".join("   " + "   ".join(f"{v:.6e}" for v in r) + "\n" for r in data))
    _check_uci(load_dataset("naval", path=str(p)), data, 16, 16)
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as z:
        z.writestr("other.txt", "1 2")
    with pytest.raises(ConfigError, match=r"bad\.zip: the zip holds no file ending in 'data\.txt'"):
        load_dataset("naval", path=str(tmp_path / "bad.zip"))


def _idx_bytes(arr: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, arr.ndim]) + np.asarray(arr.shape, dtype=">i4").tobytes()
    return head + arr.astype(np.uint8).tobytes()


def test_mnist_idx(tmp_path):
    rng = np.random.default_rng(0)
    imgs = {s: rng.integers(0, 256, size=(n, 4, 4)) for s, n in (("train", 12), ("t10k", 10))}
    labels = {s: rng.integers(0, 10, size=len(v)) for s, v in imgs.items()}
    for s in imgs:
        (tmp_path / f"{s}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(imgs[s])))
        (tmp_path / f"{s}-labels-idx1-ubyte").write_bytes(_idx_bytes(labels[s]))
    np.testing.assert_array_equal(read_idx(tmp_path / "train-images-idx3-ubyte.gz"), imgs["train"])
    ds = load_dataset("mnist_idx", path=str(tmp_path), n_train=5, n_test=4, n_transfer=3)
    np.testing.assert_allclose(ds.x_train.numpy(), imgs["train"][:5].reshape(5, 16) / 255.0)
    assert ds.y_test.argmax(1).tolist() == labels["t10k"][:4].tolist()
    t = ds.extra["transfer"]
    np.testing.assert_allclose(t["x_train"].numpy(), imgs["train"][5:8].reshape(3, 16) / 255.0)
    assert t["y_test"].argmax(1).tolist() == labels["t10k"][4:7].tolist()
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ConfigError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
