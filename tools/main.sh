#!/usr/bin/env bash
# The main job from a fresh clone: makes .venv, installs pyrtrl, and learns the default
# recorded signal online, writing the run directory (telemetry, models, report) to
# runs/latest. Extra arguments go to `pyrtrl run` (see `pyrtrl run --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
# the host float learner and its forecasting report (the device runs are `pyrtrl run --board B`)
exec .venv/bin/pyrtrl run --board float --out runs/latest "$@"
