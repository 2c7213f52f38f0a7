"""Evaluation against independent references (paper section 2.6, Table 3; SPEC section 9).  No MPI here.

Modules, one job each:

* :mod:`.ismn` - ISMN in-situ station files (both layouts, folders and zip archives), daily means;
* :mod:`.fluxnet` - FLUXNET2015 / Warm Winter 2020 CSV files -> daily GPP, NEE, ET in SI units;
* :mod:`.xbase` - X-BASE-style gridded daily fluxes: bilinear reader and writer;
* :mod:`.metrics` - anomalies, R_anom, RMSD, the paper's site rules, common mask, Wilcoxon test;
* :mod:`.synthetic` - synthetic references in those formats drawn from a truth run.

:mod:`mpilda.inspect` imports the readers and registers their formats itself; the readers do not
import :mod:`mpilda.inspect` (their summaries use :class:`mpilda.summary.Stats`).
"""

from __future__ import annotations


def register_detectors() -> None:
    """Make sure the ISMN, FLUXNET and X-BASE formats are known to ``inspect`` (idempotent).

    Importing :mod:`mpilda.inspect` registers them; this is kept for callers that asked for them
    before ``inspect`` did so itself.
    """
    from .. import inspect  # noqa: F401
