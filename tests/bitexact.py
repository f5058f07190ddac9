"""The bit-exactness check shared by the tests: the C library's whole state against its numpy
specification (pyrtrl.fixed) after the same steps."""
from __future__ import annotations

import numpy as np

from pyrtrl.deploy.runtime import CLearner
from pyrtrl.fixed import FixedLearner


def assert_same(c: CLearner, f: FixedLearner, where: str):
    s = c.snapshot()
    for name in ("c", "h", "y", "o", "psi", "a"):
        np.testing.assert_array_equal(s.state[name], getattr(f, name), err_msg=f"{where}: {name}")
    np.testing.assert_array_equal(s.live, f.live, err_msg=f"{where}: live columns")
    np.testing.assert_array_equal(s.M, f.M, err_msg=f"{where}: influence matrix")
    np.testing.assert_array_equal(s.theta, f.theta, err_msg=f"{where}: weights")
    np.testing.assert_array_equal(s.w_o, f.w_o, err_msg=f"{where}: readout")
    np.testing.assert_array_equal(s.b_o, f.b_o, err_msg=f"{where}: readout bias")
    np.testing.assert_array_equal(s.grad, f.G, err_msg=f"{where}: gradient")
    np.testing.assert_array_equal(s.grad_thr, f.G_imm, err_msg=f"{where}: thr gradient")
    np.testing.assert_array_equal(s.grad_wo, f.G_wo, err_msg=f"{where}: readout gradient")
    if f.rls is not None:
        np.testing.assert_array_equal(c.rls_matrix(), f.rls.P, err_msg=f"{where}: RLS P")
    assert s.counters == f.counters, where
