"""Export a model to C for the firmware: statically sized arrays and a budget check.

``pyrtrl export model.npz --board B -o DIR`` writes ``DIR/model_data.h`` and
``DIR/model_data.c``: the quantized model (patterns, Q24 parameters) as const arrays, the
``rtrl_config_t`` (C99 designated initialisers: readout source, taps, readout rule, the
RLS constants and the optimizer with Adam's constants included) and ``rtrl_model_t`` that
point to them, and the buffer size (``RTRL_REQUIRED_BYTES_OPT``, checked at compile time). A model over
the board's RAM budget fails here, with a message naming the budget, the need and the
largest model that would fit; the same message is compiled into the header as an ``#error``
so that a build with an edited or stale export fails too.
"""

from __future__ import annotations

import os
from typing import Dict, Optional, Union

import numpy as np

from ..boards import get_board
from .budget import CHUNK, CONTEXT_BYTES, budget_for_model, largest_hidden
from ..errors import PyrtrlError
from ..fixed.model import fixed_config
from ..run_defaults import ADAM_BETA1, ADAM_BETA2, ADAM_EPS, CLIP, LR, RLS_FORGETTING, RLS_P0
from ..core.model import EGRU
from .deployment import Deployment


def _c_array(ctype: str, name: str, values: np.ndarray) -> str:
    vals = [str(int(v)) for v in np.asarray(values).ravel()]
    if not vals:
        vals = ["0"]  # C forbids empty arrays; the count in the config says 0
    rows = ["    " + ", ".join(vals[i:i + 12]) + "," for i in range(0, len(vals), 12)]
    return f"static const {ctype} {name}[{len(vals)}] = {{\n" + "\n".join(rows) + "\n};\n"


def budget_message(model: Union[EGRU, Deployment], board_name: str, influence_bits: int,
                   readout_rule: str = "gradient", horizon: int = 1,
                   optimizer: str = "sgd") -> Optional[str]:
    """None if the model (an EGRU, or a Deployment's template) fits the board's RAM, else
    the one-line reason.

    The budget is the board's RAM less its firmware reserve (stack, UART and protocol
    buffers, the learner's context of CONTEXT_BYTES): what `pyrtrl budget --board` says,
    for the model's readout (y or c, its taps) learning by ``readout_rule``, at ``horizon``,
    with ``optimizer`` ("adam" keeps 12 bytes of moments per gradient-learned parameter).
    """
    if isinstance(model, Deployment):
        model = model.template
    # (the budget needs no quantized model: it counts the masks' entries)
    b = budget_for_model(model, influence_bits, readout_rule=readout_rule, horizon=horizon,
                         optimizer=optimizer)
    board = get_board(board_name)
    allowed = board.ram_bytes - board.reserved_ram
    if b.fits(board):
        return None
    best = largest_hidden(board, model.d, model.k, model.density(), model.shared_mask, influence_bits,
                          taps=model.taps, readout=model.readout, readout_rule=readout_rule,
                          horizon=horizon, optimizer=optimizer)
    how = ("RLS" + (", the cell by Adam" if optimizer == "adam" else "") if readout_rule == "rls"
           else "Adam as the cell" if optimizer == "adam" else "SGD")
    readout = (f"readout of {model.readout} + {model.taps} input taps by {how}"
               + (f", horizon {horizon}" if horizon != 1 else ""))
    return (f"model needs {b.total_ram} B of RAM for the learner's buffer but board {board.name} "
            f"allows {allowed} B ({board.ram_bytes} RAM - {board.reserved_ram} reserved for the "
            f"firmware and the learner's {CONTEXT_BYTES} B context); the largest hidden size that "
            f"fits at density {model.density():.2f}, {'shared' if model.shared_mask else 'independent'} "
            f"masks, {influence_bits}-bit influence, {readout} is {best}")


def export_model(model: Union[EGRU, Deployment], board: str, out_dir: str, lr: float = LR, clip: float = CLIP,
                 update_every: int = 1, influence_bits: int = 16, readout_rule: str = "gradient",
                 train: str = "all", rls_forgetting: float = RLS_FORGETTING, rls_p0: float = RLS_P0,
                 horizon: int = 1, optimizer: str = "sgd", adam_beta1: float = ADAM_BETA1,
                 adam_beta2: float = ADAM_BETA2, adam_eps: float = ADAM_EPS) -> Dict[str, str]:
    """Write model_data.{h,c} for ``board`` into ``out_dir``; returns name -> path.

    ``model`` is a :class:`~pyrtrl.deploy.deployment.Deployment` (a run's, shared with its
    host learner and device client) or an EGRU, quantized here.
    ``readout_rule`` ("gradient" or "rls"), ``train`` ("all" or "readout": the cell frozen),
    ``rls_forgetting``, ``rls_p0``, ``horizon`` (the config's delay is H - 1), ``optimizer``
    ("sgd" or "adam") and Adam's ``adam_beta1``, ``adam_beta2``, ``adam_eps`` are as for
    :class:`pyrtrl.deploy.runtime.CLearner` (with Adam ``lr`` is the rate per update, not divided
    by ``update_every``); the model's readout source (y or c) and taps come from ``model``.

    Raises
    ------
    PyrtrlError
        The model does not fit the board, cannot be quantized, or the settings are invalid.
    """
    cfg = fixed_config(lr, clip, update_every, influence_bits, False, readout_rule, train,
                       rls_forgetting, rls_p0, horizon, optimizer, adam_beta1, adam_beta2, adam_eps)
    dep = Deployment.of(model)
    q = dep.quantized
    reason = budget_message(dep, board, influence_bits, readout_rule, horizon, optimizer)
    if reason is not None:
        raise PyrtrlError(reason)
    b = get_board(board)
    arr = dep.c_arrays()
    bud = dep.budget(influence_bits, readout_rule=readout_rule, horizon=horizon, optimizer=optimizer)
    shared = dep.shares_recurrent_pattern
    nnz_w = [q.patterns[f"W_{g}"].nnz for g in "urg"]
    nnz_r = [q.patterns[f"R_{g}"].nnz for g in "urg"]
    rls = cfg.rls
    guard = "PYRTRL_MODEL_DATA_H"
    h = f"""/* model_data.h - GENERATED by `pyrtrl export` for board {b.name}. Do not edit. */
#ifndef {guard}
#define {guard}

#include "rtrl.h"

#define MODEL_N {q.n}u
#define MODEL_D {q.d}u
#define MODEL_K {q.k}u
#define MODEL_P {q.P}u
#define MODEL_TAPS {q.taps}u
#define MODEL_FEATURES {q.features}u /* readout columns: MODEL_N + MODEL_TAPS * MODEL_D */
#define MODEL_READOUT_C {int(q.readout_c)}u /* the readout reads c (1) or the events y (0) */
#define MODEL_RLS {int(rls is not None)}u /* the readout learns by RLS (1) or SGD (0) */
#define MODEL_DELAY {cfg.delay}u /* forecast horizon - 1 */
#define MODEL_ADAM {int(cfg.adam is not None)}u /* the gradient-learned parameters step by Adam (1) or SGD (0) */
#define MODEL_NNZ_W_TOTAL {sum(nnz_w)}u
#define MODEL_NNZ_R_TOTAL {sum(nnz_r)}u
#define MODEL_NNZ_UNION {q.union.nnz}u
#define MODEL_INFLUENCE_BITS {influence_bits}
#define MODEL_BUFFER_BYTES {bud.total_ram}u /* RTRL_REQUIRED_BYTES_OPT with RTRL_CHUNK {CHUNK} */
#define MODEL_BOARD "{b.name}"
#define MODEL_BOARD_RAM_BYTES {b.ram_bytes}u
#define MODEL_BOARD_RESERVED_BYTES {b.reserved_ram}u

#if RTRL_INFLUENCE_BITS != MODEL_INFLUENCE_BITS
#error "model exported for {influence_bits}-bit influence: build runtime_c with RTRL_INFLUENCE_BITS={influence_bits}"
#endif
#if RTRL_CHUNK != {CHUNK}
#error "model sized for RTRL_CHUNK {CHUNK}"
#endif
#if MODEL_BUFFER_BYTES + MODEL_BOARD_RESERVED_BYTES > MODEL_BOARD_RAM_BYTES
#error "model over the RAM budget of board {b.name}: re-export with `pyrtrl export` for the reason"
#endif
#if defined(BOARD_RAM_BYTES) && (MODEL_BUFFER_BYTES + MODEL_BOARD_RESERVED_BYTES > BOARD_RAM_BYTES)
#error "model over this board's RAM budget: it needs a {bud.total_ram} B learner buffer + {b.reserved_ram} B firmware reserve (exported for {b.name}); `pyrtrl budget --model MODEL.npz --board BOARD` gives the largest hidden size that fits"
#endif

/* the learner's buffer: MODEL_BUFFER_WORDS 64-bit words (8-byte aligned) */
#define MODEL_BUFFER_WORDS ((MODEL_BUFFER_BYTES + 7u) / 8u)
/* bytes of a weights image (DUMP / LOAD): theta, w_o (k x features), b_o, int32 */
#define MODEL_WEIGHTS_BYTES (4u * (MODEL_P + MODEL_K * MODEL_FEATURES + MODEL_K))

extern const rtrl_config_t model_config;
extern const rtrl_model_t model_def;

#endif
"""
    parts = [f"/* model_data.c - GENERATED by `pyrtrl export` for board {b.name}. Do not edit. */\n",
             '#include "model_data.h"\n\n',
             "/* the library's size macro must agree with the exporter's figure */\n",
             "typedef char model_buffer_size_check[(RTRL_REQUIRED_BYTES_OPT(MODEL_N, MODEL_D, MODEL_K, "
             "MODEL_NNZ_W_TOTAL, MODEL_NNZ_R_TOTAL, MODEL_NNZ_UNION, MODEL_TAPS, MODEL_RLS, MODEL_DELAY, "
             "MODEL_ADAM) == MODEL_BUFFER_BYTES) ? 1 : -1];\n"
             + ("" if cfg.delay or cfg.adam is not None else
                "typedef char model_buffer_size_check_ro[(RTRL_REQUIRED_BYTES_RO(MODEL_N, MODEL_D, MODEL_K, "
                "MODEL_NNZ_W_TOTAL, MODEL_NNZ_R_TOTAL, MODEL_NNZ_UNION, MODEL_TAPS, MODEL_RLS) "
                "== MODEL_BUFFER_BYTES) ? 1 : -1];\n")
             + "\n"]
    for kind in ("W", "R"):
        for g in "urg":
            parts.append(_c_array("uint16_t", f"{kind}_{g}_colptr", arr[f"{kind}_{g}_colptr"]))
            parts.append(_c_array("uint16_t", f"{kind}_{g}_rowidx", arr[f"{kind}_{g}_rowidx"]))
    parts.append(_c_array("uint16_t", "U_colptr", arr["U_colptr"]))
    parts.append(_c_array("uint16_t", "U_rowidx", arr["U_rowidx"]))
    if not shared:
        for g in "urg":
            parts.append(_c_array("uint16_t", f"U_map_{g}", arr[f"U_map_{g}"]))
    parts.append(_c_array("int32_t", "theta", arr["theta"]))
    parts.append(_c_array("int32_t", "w_o", arr["w_o"]))
    parts.append(_c_array("int32_t", "b_o", arr["b_o"]))
    maps = "{NULL, NULL, NULL}" if shared else "{U_map_u, U_map_r, U_map_g}"
    if rls is not None:
        rls_fields = (f"""    .rls_lam_q = {rls.lam_q16}, /* forgetting {rls_forgetting:g}, Q16 */
    .rls_isl_q = {rls.isl_q30}, /* forgetting ** -1/2, Q30 */
    .rls_p0_q = {rls.p0_q28}, /* P = p0 I, p0 {rls_p0:g}, Q28 */
""")
    else:
        rls_fields = ""
    ad = cfg.adam
    if ad is not None:
        beta1 = "0" if ad.a == 0 else f"1 - 2^-{ad.a}"
        adam_fields = (f"""    .adam = MODEL_ADAM, /* Adam: lr is the rate per update (not / K) */
    .adam_a = {ad.a}, /* beta1 = {beta1} ({adam_beta1:g}) */
    .adam_b = {ad.b}, /* beta2 = 1 - 2^-{ad.b} ({adam_beta2:g}) */
    .reserved2 = 0,
    .adam_eps2_q = {ad.eps2_q48}u, /* eps^2, eps {adam_eps:g}, Q48 */
""")
        lr_note = f"lr {lr:g} per update (Adam), Q24"
    else:
        adam_fields = "    .adam = MODEL_ADAM, /* SGD */\n"
        lr_note = f"lr {lr:g} / K, Q24"
    parts.append(f"""
/* designated initialisers: a field added to rtrl_config_t can never shift these; fields not
 * named are zero (the library's original behaviour) */
const rtrl_config_t model_config = {{
    .n = {q.n}, .d = {q.d}, .k = {q.k},
    .nnz_w = {{{nnz_w[0]}, {nnz_w[1]}, {nnz_w[2]}}},
    .nnz_r = {{{nnz_r[0]}, {nnz_r[1]}, {nnz_r[2]}}},
    .nnz_union = {q.union.nnz},
    .update_every = {cfg.update_every},
    .dense_mode = 0,
    .readout_c = MODEL_READOUT_C,
    .lr_q = {cfg.lr_q}, /* {lr_note} */
    .clip_q = {cfg.clip_q}, /* clip {clip:g} * K, Q24 */
    .eps_q = {q.eps_q},
    .goe_q = {q.goe_q}, /* gamma / eps, Q16 */
    .taps = MODEL_TAPS,
    .readout_rls = MODEL_RLS,
    .freeze_cell = {int(cfg.freeze_cell)}, /* train={train} */
    .reserved = 0,
{rls_fields}    .delay = MODEL_DELAY,
{adam_fields}}};

const rtrl_model_t model_def = {{
    .w_colptr = {{W_u_colptr, W_r_colptr, W_g_colptr}},
    .w_rowidx = {{W_u_rowidx, W_r_rowidx, W_g_rowidx}},
    .r_colptr = {{R_u_colptr, R_r_colptr, R_g_colptr}},
    .r_rowidx = {{R_u_rowidx, R_r_rowidx, R_g_rowidx}},
    .u_colptr = U_colptr, .u_rowidx = U_rowidx, .u_map = {maps},
    .theta = theta, .w_o = w_o, .b_o = b_o,
}};
""")
    os.makedirs(out_dir, exist_ok=True)
    paths = {"model_data.h": os.path.join(out_dir, "model_data.h"),
             "model_data.c": os.path.join(out_dir, "model_data.c")}
    for name, text in (("model_data.h", h), ("model_data.c", "".join(parts))):
        tmp = paths[name] + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, paths[name])
    return paths
