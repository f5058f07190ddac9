"""cffi build script for the runtime_c bindings (run by setuptools through ``cffi_modules``).

Two extension modules are built from the same sources, one per influence-matrix width:
``pyrtrl._rtrl32`` and ``pyrtrl._rtrl16``.
"""

import glob
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "runtime_c")

CDEF = """
typedef int... rtrl_m_t;
#define RTRL_MFRAC ...
#define RTRL_INFLUENCE_BITS ...
#define RTRL_CHUNK ...
typedef enum {
    RTRL_OK = 0, RTRL_ERR_NULL = 1, RTRL_ERR_CONFIG = 2, RTRL_ERR_MODEL = 3,
    RTRL_ERR_BUFFER_TOO_SMALL = 4, RTRL_ERR_ALIGNMENT = 5, RTRL_ERR_RANGE = 6,
    RTRL_ERR_NOT_INITIALISED = 7, RTRL_ERR_WIDTH = 8
} rtrl_status_t;
typedef struct {
    uint16_t n, d, k;
    uint16_t nnz_w[3];
    uint16_t nnz_r[3];
    uint16_t nnz_union;
    uint16_t update_every;
    uint8_t dense_mode;
    uint8_t readout_c;
    int32_t lr_q;
    int32_t clip_q;
    int32_t eps_q;
    int32_t goe_q;
    uint8_t taps;
    uint8_t readout_rls;
    uint8_t freeze_cell;
    uint8_t reserved;
    int32_t rls_lam_q;
    int32_t rls_isl_q;
    int32_t rls_p0_q;
    uint32_t delay;
    uint8_t adam;
    uint8_t adam_a;
    uint8_t adam_b;
    uint8_t reserved2;
    uint32_t adam_eps2_q;
    ...;
} rtrl_config_t;
typedef struct {
    const uint16_t *w_colptr[3];
    const uint16_t *w_rowidx[3];
    const uint16_t *r_colptr[3];
    const uint16_t *r_rowidx[3];
    const uint16_t *u_colptr;
    const uint16_t *u_rowidx;
    const uint16_t *u_map[3];
    const int32_t *theta;
    const int32_t *w_o;
    const int32_t *b_o;
} rtrl_model_t;
typedef struct {
    uint32_t steps;
    uint32_t updates;
    uint64_t events;
    uint64_t active_cols;
    uint64_t macs;
    uint64_t saturations;
    uint64_t products;
    uint64_t skipped;
} rtrl_counters_t;
typedef struct {
    const int32_t *theta, *w_o, *b_o;
    const int32_t *c, *h, *y, *psi, *a;
    const rtrl_m_t *M;
    const uint16_t *col_of;
    const int32_t *grad, *grad_thr, *grad_wo, *grad_bo;
    uint16_t P, live;
    uint16_t features;
    const int32_t *rls_p;
} rtrl_view_t;
typedef struct { ...; } rtrl_t;
rtrl_status_t rtrl_required_bytes(const rtrl_config_t *cfg, size_t *bytes);
rtrl_status_t rtrl_init(rtrl_t *ctx, const rtrl_config_t *cfg, const rtrl_model_t *model,
                        void *buffer, size_t size, size_t *needed);
rtrl_status_t rtrl_reset_state(rtrl_t *ctx);
rtrl_status_t rtrl_step(rtrl_t *ctx, const int32_t *x, const int32_t *target, int32_t *out,
                        int32_t *loss);
rtrl_status_t rtrl_run(rtrl_t *ctx, uint32_t steps, const int32_t *x, const int32_t *target,
                       int32_t *out, int32_t *loss, uint32_t *done);
rtrl_status_t rtrl_run_record(rtrl_t *ctx, uint32_t steps, const int32_t *x,
                              const int32_t *target, const int16_t *labels, int32_t *out,
                              int32_t *loss, uint16_t *events, uint32_t *done);
rtrl_status_t rtrl_step_labelled(rtrl_t *ctx, const int32_t *x, const int32_t *target,
                                 int32_t label, int32_t *out, int32_t *loss);
rtrl_status_t rtrl_set_learning_rate(rtrl_t *ctx, int32_t lr_q);
rtrl_status_t rtrl_load_weights(rtrl_t *ctx, const int32_t *theta, const int32_t *w_o,
                                const int32_t *b_o);
rtrl_status_t rtrl_stage_weights(rtrl_t *ctx, uint32_t offset, const uint8_t *data, uint32_t len);
rtrl_status_t rtrl_commit_weights(rtrl_t *ctx);
uint32_t rtrl_weights_image_bytes(const rtrl_t *ctx);
rtrl_status_t rtrl_get_counters(const rtrl_t *ctx, rtrl_counters_t *counters);
rtrl_status_t rtrl_get_view(const rtrl_t *ctx, rtrl_view_t *view);
const char *rtrl_status_str(rtrl_status_t status);
const char *rtrl_version(void);
const char *rtrl_kernel_name(void);
"""


def native_flags() -> list:
    """-march=native when the compiler takes it: this extension is built on the machine that
    runs it (pip install), and integer results do not depend on the instruction set."""
    import subprocess
    import sys

    if sys.platform.startswith("linux"):
        try:
            r = subprocess.run(["cc", "-march=native", "-x", "c", "-c", "-o", os.devnull, "-"],
                               input=b"int x;", capture_output=True, timeout=30)
            if r.returncode == 0:
                return ["-march=native"]
        except (OSError, subprocess.SubprocessError):
            pass
    return []


def make(bits: int) -> FFI:
    ffi = FFI()
    ffi.cdef(CDEF)
    sources = sorted(glob.glob(os.path.join(ROOT, "src", "*.c")))
    ffi.set_source(
        f"pyrtrl._rtrl{bits}",
        '#include "rtrl.h"',
        sources=[os.path.relpath(s) for s in sources],
        include_dirs=[os.path.join(ROOT, "include"), os.path.join(ROOT, "src")],
        # wider chunks than the firmware default: faster on the host, same numbers
        define_macros=[("RTRL_INFLUENCE_BITS", str(bits)), ("RTRL_CHUNK", "32")],
        extra_compile_args=["-O3", "-std=c99", "-Wall", "-Wextra", "-Werror"] + native_flags(),
    )
    return ffi


ffibuilder32 = make(32)
ffibuilder16 = make(16)

if __name__ == "__main__":
    ffibuilder32.compile(verbose=False)
    ffibuilder16.compile(verbose=False)
