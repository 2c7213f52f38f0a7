"""Evaluation against independent references (paper section 2.6, Table 3; SPEC section 9).  No MPI here.

Modules, one job each:

* :mod:`.ismn` - ISMN in-situ station files (both layouts, folders and zip archives), daily means;
* :mod:`.fluxnet` - FLUXNET2015 / Warm Winter 2020 CSV files -> daily GPP, NEE, ET in SI units;
* :mod:`.xbase` - X-BASE-style gridded daily fluxes: bilinear reader and writer;
* :mod:`.metrics` - anomalies, R_anom, RMSD, the paper's site rules, common mask, Wilcoxon test;
* :mod:`.synthetic` - synthetic references in those formats drawn from a truth run.

``register_detectors()`` adds the readers' formats to :mod:`mpilda.inspect` (idempotent); it
imports ``mpilda.inspect`` only when called, so it may be called at the end of that module.
"""

from __future__ import annotations


def register_detectors() -> None:
    """Register the inspect detectors of ISMN files and archives, FLUXNET CSVs and X-BASE netCDF files."""
    from .. import inspect
    from . import fluxnet, ismn, xbase

    known = {d.name for d in inspect.DETECTORS}
    for name, detect, summarise in (("ismn", ismn.is_ismn_file, ismn.summarise_ismn),
                                    ("ismn-zip", ismn.is_ismn_zip, ismn.summarise_ismn_zip),
                                    ("fluxnet-csv", fluxnet.is_fluxnet, fluxnet.summarise_fluxnet),
                                    ("xbase-netcdf", xbase.is_xbase, xbase.summarise_xbase)):
        if name not in known:
            inspect.register(name, detect, summarise)
