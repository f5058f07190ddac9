"""Only here for cffi: setuptools reads ``cffi_modules`` from setup(), not from pyproject.toml."""

from setuptools import setup

setup(cffi_modules=[
    "pyrtrl/_build_kernels.py:ffibuilder",
    "pyrtrl/_build_runtime.py:ffibuilder32",
    "pyrtrl/_build_runtime.py:ffibuilder16",
])
