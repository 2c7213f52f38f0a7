#!/bin/bash
# The paper's six experiments on SLURM, as chains of jobs (jobs/slurm/mpilda-chain.sbatch):
#   jobs/slurm/paper.sh [RANKS]        # run it again whenever you like: it submits what is ready
# 1. the open loop (examples/paper/OL.ini, after its spin-up);
# 2. once it is complete: the rescaling tables and the VOD calibration (one job);
# 3. once they exist: the five DA experiments, side by side.
# A stage already queued or running (a job of its name) is not submitted twice.
set -euo pipefail
cd "$(dirname "$0")/../.."
RANKS=${1:-64}
PY=.venv/bin/python
CONFIGS=examples/paper
complete() { "$PY" -m mpilda run-status "$1" --quiet; }
queued() { squeue -h -u "$USER" -n "$1" -o %i | grep -q .; }
chain() {  # name config
  queued "mpilda-$1" || sbatch --job-name="mpilda-$1" --ntasks="$RANKS" jobs/slurm/mpilda-chain.sbatch "$2"
}

if ! complete "$CONFIGS/OL.ini"; then
  chain OL "$CONFIGS/OL.ini"
  echo "the open loop is not complete yet; run $0 again once it is"
  exit 0
fi
TABLES=$("$PY" -c "import sys; from mpilda.config import load_config; print(load_config(sys.argv[1]).tables_directory)" \
         "$CONFIGS/DA_SSM+VOD.ini")
if [ ! -e "$TABLES/vod_calibration.nc" ]; then
  queued mpilda-tables || sbatch --job-name=mpilda-tables --ntasks="$RANKS" --wrap \
    "source .venv/bin/activate && srun python -m mpilda rescale $CONFIGS/DA_SSM+VOD.ini && \
     srun python -m mpilda calibrate-vod $CONFIGS/DA_SSM+VOD.ini"
  echo "the rescaling tables and the VOD calibration are being made; run $0 again once they are"
  exit 0
fi
for name in DA_SSM DA_LAI DA_VOD DA_SSM+LAI DA_SSM+VOD; do
  complete "$CONFIGS/$name.ini" || chain "$name" "$CONFIGS/$name.ini"
done
