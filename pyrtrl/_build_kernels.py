"""cffi build script for pyrtrl._kernels (run by setuptools through ``cffi_modules``)."""

import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
KDIR = os.path.join(HERE, "_kernels")

ffibuilder = FFI()
with open(os.path.join(KDIR, "influence.h")) as f:
    ffibuilder.cdef("\n".join(line for line in f if not line.startswith("#")))
ffibuilder.set_source(
    "pyrtrl._kernels_c",
    '#include "influence.h"',
    sources=[os.path.relpath(os.path.join(KDIR, "influence.c"))],
    include_dirs=[KDIR],
    extra_compile_args=["-O3", "-std=c99", "-Wall", "-Wextra", "-Werror"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
