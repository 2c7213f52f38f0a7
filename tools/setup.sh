#!/usr/bin/env bash
# Set up mpilda on a bare Debian/Ubuntu machine, idempotently (`make setup` runs this).
#
#  1. Debian packages for MPI and parallel HDF5 (apt-get, as root or through sudo);
#  2. a virtual environment in .venv with the Python dependencies;
#  3. h5py built against the system's MPI-enabled HDF5.  The wheel is cached in
#     ${MPILDA_CACHE:-~/.cache/mpilda}, keyed by the HDF5, Python, numpy and mpi4py
#     versions, so a fresh clone on the same machine reuses it (the build takes minutes);
#  4. mpilda itself, editable.
# A second run only checks, unless setup.cfg, pyproject.toml or this script changed.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
CACHE=${MPILDA_CACHE:-$HOME/.cache/mpilda}
H5PY_VERSION=3.16.0          # the h5py release built from source against the system HDF5
DEB_PACKAGES="openmpi-bin libopenmpi-dev libhdf5-openmpi-dev"
HDF5_DIR=${HDF5_DIR:-/usr/lib/x86_64-linux-gnu/hdf5/openmpi}
[ -d "$HDF5_DIR" ] || HDF5_DIR=/usr/lib/$(uname -m)-linux-gnu/hdf5/openmpi

say() { printf 'setup: %s\n' "$*"; }

# --- 1. Debian packages -----------------------------------------------------
missing=""
for p in $DEB_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    say "installing Debian packages:$missing"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
fi

# --- 2. virtual environment ---------------------------------------------------
stamp_want=$(cat setup.cfg pyproject.toml tools/setup.sh | sha256sum | cut -c1-16)
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
has_mpi_h5py() { "$PY" -c 'import h5py, sys; sys.exit(0 if h5py.get_config().mpi else 1)' 2>/dev/null; }

if [ "$(cat "$VENV/.mpilda-setup" 2>/dev/null)" = "$stamp_want" ] && has_mpi_h5py; then
    say "up to date ($VENV, parallel h5py $("$PY" -c 'import h5py; print(h5py.__version__)'))"
    exit 0
fi

say "installing build tools and dependencies"
"$PY" -m pip install -q --upgrade pip "setuptools>=77" wheel "Cython>=3" "numpy>=1.26" "mpi4py>=3.1.4" pkgconfig

# --- 3. parallel h5py ---------------------------------------------------------
if ! has_mpi_h5py; then
    hdf5=$(dpkg-query -W -f='${Version}' libhdf5-openmpi-dev | tr -c 'A-Za-z0-9.\n' '_')
    key=$("$PY" -c 'import sys, numpy, mpi4py; v = sys.version_info; print("py%d%d-numpy%s-mpi4py%s" % (v[0], v[1], numpy.__version__.split(".")[0], mpi4py.__version__.split(".")[0]))')
    wheels="$CACHE/h5py-$H5PY_VERSION-hdf5-$hdf5-$key"
    if ! ls "$wheels"/h5py-*.whl >/dev/null 2>&1; then
        say "building h5py $H5PY_VERSION against the MPI HDF5 in $HDF5_DIR (a few minutes; cached in $wheels)"
        mkdir -p "$wheels.part"
        CC=mpicc HDF5_MPI=ON HDF5_DIR="$HDF5_DIR" "$PY" -m pip wheel -q --no-binary=h5py --no-build-isolation \
            --no-deps -w "$wheels.part" "h5py==$H5PY_VERSION"
        rm -rf "$wheels" && mv "$wheels.part" "$wheels"
    else
        say "reusing the cached parallel h5py wheel in $wheels"
    fi
    "$PY" -m pip install -q --no-deps --force-reinstall "$wheels"/h5py-*.whl
    has_mpi_h5py || { say "ERROR: h5py in $VENV still has no MPI support"; exit 1; }
fi

# --- 4. mpilda ----------------------------------------------------------------
say "installing mpilda (editable) with its test dependencies"
"$PY" -m pip install -q --no-build-isolation -e ".[test]"
has_mpi_h5py || { say "ERROR: installing mpilda replaced the parallel h5py"; exit 1; }
echo "$stamp_want" > "$VENV/.mpilda-setup"
say "done: $("$PY" -c 'import h5py, mpi4py, numpy; print(f"h5py {h5py.__version__} (MPI), mpi4py {mpi4py.__version__}, numpy {numpy.__version__}")')"
