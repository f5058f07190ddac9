"""Tests for pyrtrl.core.model_file: .npz round trips and one-line errors for malformed files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict

import numpy as np
import pytest

from pyrtrl import MASKED, PARAMS, PyrtrlError, init_egru, load_model, save_model

EXPECTED_KEYS = set(PARAMS) | {f"mask_{m}" for m in MASKED} | {"gamma", "eps", "readout", "taps"}


def _model(dtype=np.float64, shared=False, seed=0):
    return init_egru(6, 3, 2, density=0.5, shared_mask=shared, seed=seed, gamma=0.55, eps=0.8,
                     dtype=dtype)


# -- round trips ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shared", [True, False])
def test_round_trip(tmp_path: Path, dtype, shared: bool) -> None:
    m = _model(dtype, shared, seed=3)
    # nonzero biases too, so equality is not trivially about zeros
    m.params["b_u"][:] = np.linspace(-1, 1, m.n).astype(dtype)
    path = tmp_path / "model.npz"
    save_model(path, m)
    back = load_model(path)
    assert back.shared_mask == shared == m.shared_mask
    assert back.dtype == np.dtype(dtype)
    for name in PARAMS:
        assert back.params[name].dtype == np.dtype(dtype)
        np.testing.assert_array_equal(back.params[name], m.params[name])
    for name in MASKED:
        assert back.masks[name].dtype == np.bool_
        np.testing.assert_array_equal(back.masks[name], m.masks[name])
    assert back.gamma == m.gamma == 0.55
    assert back.eps == m.eps == 0.8
    assert (back.n, back.d, back.k) == (m.n, m.d, m.k)


def test_key_set_and_scalar_dtypes(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    save_model(path, _model(np.float32))
    with np.load(path, allow_pickle=False) as z:
        assert set(z.files) == EXPECTED_KEYS
        assert len(z.files) == len(EXPECTED_KEYS)
        for name in MASKED:
            assert z[f"mask_{name}"].dtype == np.bool_
        for s in ("gamma", "eps"):
            assert z[s].shape == () and z[s].dtype == np.float64


def test_exact_path_without_suffix(tmp_path: Path) -> None:
    path = tmp_path / "plainname"
    save_model(str(path), _model())
    assert path.exists()
    assert not (tmp_path / "plainname.npz").exists()
    assert os.listdir(tmp_path) == ["plainname"]  # no stray temp file
    load_model(str(path))


def test_overwrite_replaces_atomically(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    save_model(path, _model(seed=1))
    m2 = _model(seed=2)
    save_model(path, m2)
    np.testing.assert_array_equal(load_model(path).params["W_u"], m2.params["W_u"])
    assert os.listdir(tmp_path) == ["m.npz"]


def test_save_into_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "m.npz"
    with pytest.raises(PyrtrlError) as e:
        save_model(path, _model())
    assert "\n" not in str(e.value) and str(path) in str(e.value)


# -- malformed files -----------------------------------------------------------------------
def _good(tmp_path: Path, dtype=np.float64) -> Dict[str, np.ndarray]:
    path = tmp_path / "good.npz"
    save_model(path, _model(dtype))
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _first_masked_index(arrs: Dict[str, np.ndarray], name: str) -> tuple:
    return tuple(np.argwhere(~arrs[f"mask_{name}"])[0])


def _missing(a):
    del a["R_g"]


def _extra(a):
    a["bogus_array"] = np.zeros(3)


def _shape(a):
    a["R_u"] = a["R_u"][:5, :]


def _nan(a):
    a["W_o"][0, 0] = np.nan


def _inf(a):
    a["b_r"][1] = np.inf


def _masked_nonzero(a):
    a["W_g"][_first_masked_index(a, "W_g")] = 0.25


def _float_mask(a):
    a["mask_R_r"] = a["mask_R_r"].astype(np.float64)


def _int_params(a):
    a["W_r"] = a["W_r"].astype(np.int64)


def _int_all(a):
    for name in PARAMS:
        a[name] = a[name].astype(np.int32)


def _mixed(a):
    a["R_u"] = a["R_u"].astype(np.float32)


def _thr(a):
    a["thr"][2] = 1.5


def _thr_neg(a):
    a["thr"][0] = -0.1


def _gamma_vec(a):
    a["gamma"] = np.array([0.7, 0.7])


def _eps_int(a):
    a["eps"] = np.array(1)


def _gamma_neg(a):
    a["gamma"] = np.array(-1.0)


def _mask_shape(a):
    a["mask_W_u"] = a["mask_W_u"][:, :2]


def _b_u_matrix(a):
    a["b_u"] = a["b_u"][:, None]


MALFORMED: Dict[str, tuple[Callable[[Dict[str, np.ndarray]], None], str]] = {
    "missing array": (_missing, "R_g"),
    "extra array": (_extra, "bogus_array"),
    "wrong shape": (_shape, "R_u"),
    "nan": (_nan, "W_o"),
    "inf": (_inf, "b_r"),
    "masked nonzero": (_masked_nonzero, "W_g"),
    "float mask": (_float_mask, "mask_R_r"),
    "int params": (_int_params, "W_r"),
    "all int params": (_int_all, "W_u"),
    "mixed dtypes": (_mixed, "R_u"),
    "thr 1.5": (_thr, "thr"),
    "thr negative": (_thr_neg, "thr"),
    "gamma vector": (_gamma_vec, "gamma"),
    "eps int": (_eps_int, "eps"),
    "gamma negative": (_gamma_neg, "gamma"),
    "mask shape": (_mask_shape, "mask_W_u"),
    "b_u matrix": (_b_u_matrix, "b_u"),
}


def _assert_one_line(exc: pytest.ExceptionInfo, path: Path, word: str) -> None:
    msg = str(exc.value)
    assert type(exc.value) is PyrtrlError
    assert "\n" not in msg and "\r" not in msg
    assert msg.startswith(f"{path}: "), msg
    assert word in msg, msg




def test_mixed_dtypes_from_float32(tmp_path: Path) -> None:
    arrs = _good(tmp_path, np.float32)
    arrs["b_o"] = arrs["b_o"].astype(np.float64)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrs)
    with pytest.raises(PyrtrlError) as e:
        load_model(bad)
    _assert_one_line(e, bad, "b_o")


def test_missing_and_extra_listed(tmp_path: Path) -> None:
    arrs = _good(tmp_path)
    del arrs["thr"], arrs["mask_R_u"]
    arrs["zzz"] = np.zeros(1)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrs)
    with pytest.raises(PyrtrlError) as e:
        load_model(bad)
    for word in ("thr", "mask_R_u", "zzz"):
        _assert_one_line(e, bad, word)


def test_big_endian_accepted(tmp_path: Path) -> None:
    arrs = _good(tmp_path)
    for name in PARAMS:
        arrs[name] = arrs[name].astype(">f8")
    path = tmp_path / "be.npz"
    np.savez(path, **arrs)
    m = load_model(path)
    assert m.dtype == np.float64
    np.testing.assert_array_equal(m.params["W_u"], arrs["W_u"])


@pytest.mark.parametrize("cut", [0.3, 0.9])
def test_truncated(tmp_path: Path, cut: float) -> None:
    good = tmp_path / "good.npz"
    save_model(good, _model())
    data = good.read_bytes()
    bad = tmp_path / "trunc.npz"
    bad.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(PyrtrlError) as e:
        load_model(bad)
    _assert_one_line(e, bad, "trunc.npz")


def test_corrupt_bytes(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    save_model(good, _model())
    data = bytearray(good.read_bytes())
    # flip bytes inside the first member's data, keeping the zip directory intact
    for i in range(200, 260):
        data[i] ^= 0xFF
    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(PyrtrlError) as e:
        load_model(bad)
    _assert_one_line(e, bad, "corrupt")


def test_nonexistent(tmp_path: Path) -> None:
    path = tmp_path / "does_not_exist.npz"
    with pytest.raises(PyrtrlError) as e:
        load_model(path)
    _assert_one_line(e, path, "does_not_exist.npz")
    assert "no such file" in str(e.value)


@pytest.mark.parametrize("content", [b"W_u,1,2,3\nnot a model\n", b""])
def test_text_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.txt"
    path.write_bytes(content)
    with pytest.raises(PyrtrlError) as e:
        load_model(path)
    _assert_one_line(e, path, "model.txt")
    assert "not an .npz" in str(e.value)


def test_npy_file(tmp_path: Path) -> None:
    path = tmp_path / "single.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(PyrtrlError) as e:
        load_model(path)
    _assert_one_line(e, path, "single.npy")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(PyrtrlError) as e:
        load_model(tmp_path)
    _assert_one_line(e, tmp_path, "directory")


def test_pickled_object_member(tmp_path: Path) -> None:
    arrs = _good(tmp_path)
    arrs["W_u"] = np.array([{"a": 1}], dtype=object)
    bad = tmp_path / "obj.npz"
    np.savez(bad, **arrs)
    with pytest.raises(PyrtrlError) as e:
        load_model(bad)
    _assert_one_line(e, bad, "pickled")


# -- more malformed members (docs/reliability.md) --------------------------------------------
def _set(key, value):
    return lambda a: a.__setitem__(key, value(a) if callable(value) else value)


def _all_params(dtype):
    def edit(a):
        for name in PARAMS:
            a[name] = a[name].astype(dtype)
    return edit


MORE_MALFORMED: Dict[str, tuple[Callable[[Dict[str, np.ndarray]], None], str]] = {
    "uint8 mask": (_set("mask_W_u", lambda a: a["mask_W_u"].astype(np.uint8)), "mask_W_u"),
    "int64 mask": (_set("mask_R_g", lambda a: a["mask_R_g"].astype(np.int64)), "mask_R_g"),
    "0-d mask": (_set("mask_R_u", np.array(True)), "mask_R_u"),
    "0-d W_u": (_set("W_u", np.array(1.0)), "W_u"),
    "0-d b_u": (_set("b_u", np.array(0.5)), "b_u"),
    "0-d b_o": (_set("b_o", np.array(0.5)), "b_o"),
    "0-d W_o": (_set("W_o", np.array(0.5)), "W_o"),
    "0-d thr": (_set("thr", np.array(0.5)), "thr"),
    "complex params": (_all_params(np.complex128), "complex128"),
    "float16 params": (_all_params(np.float16), "float16"),
    "structured dtype": (_set("b_o", np.zeros(2, dtype=[("a", "f8")])), "b_o"),
    "string gamma": (_set("gamma", np.array("x")), "gamma"),
    "eps nan": (_set("eps", np.array(np.nan)), "eps"),
    "eps zero": (_set("eps", np.array(0.0)), "eps"),
    "gamma inf": (_set("gamma", np.array(np.inf)), "gamma"),
    "no inputs": (lambda a: [a.__setitem__(k, a[k][:, :0]) for k in
                             ("W_u", "W_r", "W_g", "mask_W_u", "mask_W_r", "mask_W_g")], "inputs=0"),
    "no outputs": (lambda a: [a.__setitem__("W_o", a["W_o"][:0]), a.__setitem__("b_o", a["b_o"][:0])],
                   "outputs=0"),
    "no hidden units": (lambda a: [a.__setitem__(k, a[k][:0]) for k in ("b_u", "b_r", "b_g", "b_rg", "thr")],
                        "W_u"),
}


@pytest.mark.parametrize("case", list(MALFORMED) + ["more:" + c for c in MORE_MALFORMED])
def test_malformed(tmp_path: Path, case: str) -> None:
    edit, word = MORE_MALFORMED[case[5:]] if case.startswith("more:") else MALFORMED[case]
    arrs = _good(tmp_path)
    edit(arrs)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrs)
    with pytest.raises(PyrtrlError) as e:
        load_model(bad)
    _assert_one_line(e, bad, word)
