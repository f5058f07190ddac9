"""The Deployment: a model quantized once, owning the weights image's layout, the C arrays,
the structure hash, the budget and checkpoints (issue 12, Deliver 1 and 4)."""

import ast
import os
from pathlib import Path

import numpy as np
import pytest

import pyrtrl
from pyrtrl.deploy.budget import budget_for_model
from pyrtrl.deploy.checkpoint import load_checkpoint, save_checkpoint
from pyrtrl.deploy.deployment import (Deployment, c_model_arrays, model_structure_hash,
                                      shares_recurrent_pattern)
from pyrtrl.deploy.export import export_model
from pyrtrl.deploy.runtime import CLearner

PKG = Path(__file__).resolve().parents[2] / "pyrtrl"


def _model(**kw):
    args = dict(density=0.4, shared_mask=False, eps=0.2, seed=3)
    args.update(kw)
    return pyrtrl.init_egru(9, 2, 3, **args)


def _one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg
    return msg


# -- the weights image ---------------------------------------------------------------------
@pytest.mark.parametrize("readout,taps", [("y", 0), ("c", 4)])
def test_image_layout_and_round_trip(readout, taps):
    model = _model(readout=readout, taps=taps)
    dep = Deployment.from_model(model)
    q = dep.quantized
    assert dep.features == model.features == 9 + taps * 2
    assert dep.image_counts == (q.P, 3 * dep.features, 3)
    assert dep.image_bytes == 4 * (q.P + 3 * dep.features + 3)
    layout = dep.image_layout()
    assert list(layout) == ["theta", "w_o", "b_o"]
    assert layout["theta"] == (0, 4 * q.P)
    assert layout["w_o"] == (4 * q.P, 4 * 3 * dep.features)
    assert sum(length for _, length in layout.values()) == dep.image_bytes
    image = dep.initial_image()
    assert len(image) == dep.image_bytes
    theta, w_o, b_o = dep.split_image(image)
    assert w_o.shape == (3, dep.features)
    np.testing.assert_array_equal(theta, q.theta)
    np.testing.assert_array_equal(w_o, q.w_o)
    np.testing.assert_array_equal(b_o, q.b_o)
    assert dep.image(theta, w_o, b_o) == image
    # the float model an image holds is quantized back to the same image
    back = dep.model_from_image(image)
    assert (back.n, back.d, back.k, back.readout, back.taps) == (9, 2, 3, readout, taps)
    assert Deployment.from_model(back).initial_image() == image
    assert model_structure_hash(back) == dep.structure_hash
    # changed weights land where the layout says
    w2 = w_o.copy()
    w2[1, 2] += 5
    changed = dep.image(theta, w2, b_o)
    off = layout["w_o"][0] + 4 * (1 * dep.features + 2)
    assert changed[:off] == image[:off] and changed[off + 4:] == image[off + 4:]
    assert dep.model_from_image(changed).params["W_o"][1, 2] == pytest.approx(
        model.params["W_o"][1, 2] + 5 / (1 << 24), abs=1e-7)


def test_image_size_and_values_are_checked_in_one_line():
    dep = Deployment.from_model(_model(taps=2))
    image = dep.initial_image()
    for bad in (image[:-4], image + b"\0\0\0\0", b""):
        with pytest.raises(pyrtrl.PyrtrlError, match=f"weights image has {len(bad)} bytes") as e:
            dep.split_image(bad)
        assert f"the model's has {dep.image_bytes}" in _one_line(e)
        with pytest.raises(pyrtrl.PyrtrlError):
            dep.model_from_image(bad)
    theta, w_o, b_o = dep.split_image(image)
    with pytest.raises(pyrtrl.PyrtrlError, match="weights have") as e:
        dep.image(theta[:-1], w_o, b_o)
    _one_line(e)
    big = theta.copy()
    big[0] = 2 ** 31
    with pytest.raises(pyrtrl.PyrtrlError, match="theta has values outside int32") as e:
        dep.image(big, w_o, b_o)
    _one_line(e)


def test_image_is_the_c_librarys():
    """The C library's image size and dump agree with the Deployment's layout, and a learner
    made from the Deployment shares it instead of quantizing again."""
    model = _model(readout="c", taps=3)
    dep = Deployment.from_model(model)
    c = CLearner(dep, lr=0.05, influence_bits=16)
    assert c.deployment is dep and c.q is dep.quantized
    assert c.lib.rtrl_weights_image_bytes(c.ctx) == dep.image_bytes
    assert c.weights_image() == dep.initial_image()
    rng = np.random.default_rng(1)
    x, tg = rng.normal(size=(200, 2)), 0.5 * rng.normal(size=(200, 3))
    c.run(x, tg)
    learned = c.weights_image()
    assert learned != dep.initial_image()
    # the same numbers as a learner made from the model itself
    ref = CLearner(model, lr=0.05, influence_bits=16)
    ref.run(x, tg)
    assert ref.weights_image() == learned
    assert dep.model_from_image(learned).params["W_o"].tolist() == c.model.params["W_o"].tolist()
    # and an image loads back
    fresh = CLearner(dep, lr=0.05, influence_bits=16)
    fresh.load_image(learned)
    assert fresh.weights_image() == learned
    with pytest.raises(pyrtrl.PyrtrlError, match="weights image has"):
        fresh.load_image(learned[:-4])


# -- making one ----------------------------------------------------------------------------
def test_from_model_copies_and_of_passes_through():
    model = _model()
    dep = Deployment.from_model(model)
    assert Deployment.of(dep) is dep
    assert Deployment.of(model) is not dep
    before = dep.initial_image()
    model.params["b_o"][:] += 1.0  # the caller's model changes later: the Deployment does not
    assert dep.initial_image() == before
    assert dep.template.params["b_o"][0] != model.params["b_o"][0]
    with pytest.raises(Exception):
        dep.quantized = None  # frozen


def test_from_model_refuses_in_one_line():
    with pytest.raises(pyrtrl.PyrtrlError, match="at most 255 units") as e:
        Deployment.from_model(pyrtrl.init_egru(256, 1, 1, density=0.01, seed=0))
    _one_line(e)
    big = _model()
    big.params["b_o"][0] = 1e3
    with pytest.raises(pyrtrl.PyrtrlError, match="b_o") as e:
        Deployment.from_model(big)
    _one_line(e)
    with pytest.raises(pyrtrl.PyrtrlError, match="made from an EGRU"):
        Deployment.from_model("model.npz")


def test_c_arrays_budget_and_export_follow_the_deployment(tmp_path):
    for shared in (True, False):
        model = _model(shared_mask=shared)
        dep = Deployment.from_model(model)
        a, b = dep.c_arrays(), dep.c_arrays()
        assert a.keys() == c_model_arrays(dep.quantized).keys()
        assert a["theta"] is not b["theta"]  # fresh arrays: a learner may point into its own
        assert dep.shares_recurrent_pattern == shares_recurrent_pattern(dep.quantized) == shared
        assert ("U_map_u" in a) == (not shared)
        for kw in ({}, dict(readout_rule="rls", horizon=3), dict(optimizer="adam")):
            assert (dep.budget(16, **kw).to_dict()
                    == budget_for_model(model, 16, **kw).to_dict())
    dep = Deployment.from_model(_model())
    p1 = export_model(dep, "mps2-an386", str(tmp_path / "dep"))
    p2 = export_model(dep.template, "mps2-an386", str(tmp_path / "model"))
    for name in p1:
        assert Path(p1[name]).read_text() == Path(p2[name]).read_text()


# -- the structure hash --------------------------------------------------------------------
def test_structure_hash_covers_the_structure_not_the_weights():
    model = _model(taps=2)
    dep = Deployment.from_model(model)
    h = dep.structure_hash
    assert h == model_structure_hash(model) and len(h) == 64
    trained = model.copy()
    trained.params["W_o"][:] += 0.25
    assert model_structure_hash(trained) == h
    others = [_model(taps=2, seed=4),  # other masks, same sizes
              _model(taps=3), _model(taps=2, readout="c"), _model(taps=2, eps=0.3),
              pyrtrl.init_egru(10, 2, 3, density=0.4, shared_mask=False, eps=0.2, seed=3, taps=2)]
    hashes = {model_structure_hash(m) for m in others}
    assert h not in hashes and len(hashes) == len(others)


# -- checkpoints ---------------------------------------------------------------------------
def test_checkpoint_round_trip_and_refusals(tmp_path):
    """issue 12: another model of the same sizes (other masks) was accepted and its weights
    landed on the wrong sparsity pattern; a cut or empty checkpoint gave a traceback."""
    model = pyrtrl.init_egru(8, 1, 1, density=0.5, shared_mask=True, seed=2)
    dep = Deployment.from_model(model)
    image = (bytes(range(256)) * (dep.image_bytes // 256 + 1))[:dep.image_bytes]
    path = tmp_path / "checkpoint.npz"
    dep.save_checkpoint(path, image, 7)
    assert dep.load_checkpoint(path) == (image, 7)
    assert load_checkpoint(str(path), model) == (image, 7)  # an EGRU works too
    # another model of the same sizes
    other_masks = pyrtrl.init_egru(8, 1, 1, density=0.5, shared_mask=True, seed=3)
    with pytest.raises(pyrtrl.PyrtrlError, match="another model of the same sizes") as e:
        load_checkpoint(path, Deployment.from_model(other_masks))
    _one_line(e)
    # other sizes
    with pytest.raises(pyrtrl.PyrtrlError, match=r"checkpoint of a \(8, 1, 1\) model") as e:
        load_checkpoint(path, pyrtrl.init_egru(9, 1, 1, density=0.5, shared_mask=True, seed=2))
    _one_line(e)
    # a trained copy (same structure) loads
    trained = model.copy()
    trained.params["b_o"][:] += 0.5
    assert load_checkpoint(path, trained) == (image, 7)
    # a flipped byte inside the stored image: the digest catches it
    with np.load(path) as z:
        fields = {k: z[k] for k in z.files}
    fields["image"] = fields["image"].copy()
    fields["image"][5] ^= 1
    bad = tmp_path / "flipped.npz"
    np.savez(bad, **fields)
    with pytest.raises(pyrtrl.PyrtrlError, match="damaged checkpoint") as e:
        dep.load_checkpoint(bad)
    _one_line(e)
    # cut short, empty, or not an npz at all: one line, no traceback
    data = path.read_bytes()
    for name, content in (("cut.npz", data[: len(data) // 2]), ("empty.npz", b""),
                          ("text.npz", b"not a checkpoint\n")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(pyrtrl.PyrtrlError, match="not a checkpoint") as e:
            dep.load_checkpoint(tmp_path / name)
        _one_line(e)
    with pytest.raises(pyrtrl.PyrtrlError, match="not a checkpoint"):
        dep.load_checkpoint(tmp_path / "missing.npz")
    # an image of another size is not written
    with pytest.raises(pyrtrl.PyrtrlError, match="weights image has") as e:
        save_checkpoint(tmp_path / "short.npz", image[:-4], 1, dep)
    _one_line(e)
    assert not (tmp_path / "short.npz").exists()


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    """A write that fails (a full disk) keeps the previous checkpoint and leaves no
    temporary file."""
    import pyrtrl.deploy.checkpoint as ck

    dep = Deployment.from_model(_model())
    image = dep.initial_image()
    path = tmp_path / "checkpoint.npz"
    dep.save_checkpoint(path, image, 3)

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ck.os, "fsync", full)
    theta, w_o, b_o = dep.split_image(image)
    with pytest.raises(OSError, match="No space left"):
        dep.save_checkpoint(path, dep.image(theta + 1, w_o, b_o), 9)
    monkeypatch.undo()
    assert dep.load_checkpoint(path) == (image, 3)
    assert os.listdir(tmp_path) == ["checkpoint.npz"]


# -- one quantization ----------------------------------------------------------------------
def _quantize_calls(source: str, filename: str = "<source>") -> int:
    """Calls of pyrtrl.fixed's ``quantize`` in ``source``: by its name, by an alias it was
    imported under, or as an attribute (``Q.quantize(...)``)."""
    tree = ast.parse(source, filename)
    names = {"quantize"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for a in node.names:
                if a.name == "quantize" and a.asname:
                    names.add(a.asname)
    calls = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Name) and f.id in names) or (
                    isinstance(f, ast.Attribute) and f.attr == "quantize"):
                calls += 1
    return calls


def test_the_detector_sees_every_form_of_call():
    assert _quantize_calls("from pyrtrl.fixed import quantize\nq = quantize(m)\n") == 1
    assert _quantize_calls("from ..fixed.quantize import quantize as qz\nq = qz(m)\n") == 1
    assert _quantize_calls("from .. import fixed\nq = fixed.quantize(m)\nfixed.quantize.quantize(m)\n") == 2
    assert _quantize_calls("from ..fixed import quantize_samples\nquantize_samples(x)\n") == 0


def test_quantize_has_one_caller_outside_fixed():
    """issue 12's done-when: a model is quantized in one place (Deployment.from_model); every
    learner, export and device client takes the Deployment. Another call fails here."""
    callers = {}
    for p in sorted(PKG.rglob("*.py")):
        rel = p.relative_to(PKG)
        if rel.parts[0] in ("fixed", "_sources"):
            continue
        n = _quantize_calls(p.read_text(), str(p))
        if n:
            callers[rel.as_posix()] = n
    assert callers == {"deploy/deployment.py": 1}, (
        f"quantize() is called outside pyrtrl/fixed/ by {callers}: build or take a "
        "pyrtrl.deploy.deployment.Deployment instead")
