#!/usr/bin/env bash
# `make demo`: the embedded default, end to end, on 2 ranks: the whole twin experiment of
# examples/twin/demo.ini (synthetic world, truth, spin-ups, OL and the five DA experiments,
# synthetic observations, rescaling, VOD calibration, evaluation and report). The twin prints
# Tables 3 and 4 beside the paper's values; the figures and report.md are in demo-output/twin.
# Stages already done (same configuration) are skipped, so an interrupted demo resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RANKS=${RANKS:-2}
CONFIG=${CONFIG:-examples/twin/demo.ini}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 MPLBACKEND=Agg
t0=$(date +%s)
mpirun -n "$RANKS" --oversubscribe "$PY" -m mpilda twin "$CONFIG"
echo "demo finished in $(( $(date +%s) - t0 )) s; report, figures and files in demo-output/twin"
