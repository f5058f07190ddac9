#!/usr/bin/env bash
# Run the test suite from a fresh clone: makes .venv, installs pyrtrl (compiling its C
# kernels) with the test extras, runs pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# Debian packages for the cross-build, firmware and QEMU tests (installed when root; else
# those tests skip, saying what is missing)
source tools/system_deps.sh
system_deps full || echo "pyrtrl: continuing without them: the tests that need them will skip" >&2
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
# the bundled labelled sets' files (pyrtrl.data.datasets reads sktime's .ts files without importing
# it, so none of its dependencies are needed)
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps 'sktime>=0.20'
exec .venv/bin/python -m pytest "$@"
