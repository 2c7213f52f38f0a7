"""mpilda: an MPI-parallel land data assimilation system (Noah-MP-like model, per-cell EnKF)."""

__version__ = "0.1.0"
