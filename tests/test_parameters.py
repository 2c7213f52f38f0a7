"""Noah-MP tables parsed from the real MPTABLE.TBL and SOILPARM.TBL (values as printed in the reference)."""

import numpy as np
import pytest

from mpilda.errors import InputError
from mpilda.model.parameters import parse_namelists, read_mptable, read_soilparm

from .conftest import REAL_DATA

MPTABLE = REAL_DATA / "lis_noahmp" / "MPTABLE.TBL"
SOILPARM = REAL_DATA / "lis_noahmp" / "SOILPARM.TBL"


def test_modis_vegetation_table():
    veg = read_mptable(MPTABLE)
    assert veg.description == "modified igbp modis noah" and veg.n_classes == 20
    # spot values from noahmp-physics.md section 9 (tables of the same file, printed by its authors)
    p = veg.params
    assert p["SLA"][0] == 80 and p["SLA"][9] == 60 and p["SLA"][8] == 50          # ENF, grass, savanna
    assert p["VCMX25"][11] == 80.0 and p["VCMX25"][12] == 0.0                       # crop, urban
    assert list(p["NROOT"][[0, 5, 10, 16]]) == [4, 3, 2, 0]
    assert p["BP"][12] == 1e15 and p["MP"][0] == 6.0 and p["TDLEF"][2] == 268
    assert p["Z0MVT"][0] == 1.09 and p["HVT"][7] == 13.0
    assert veg.lai[5, 3] == 4.7 and veg.lai[0, 3] == 0.0 and veg.lai[6, 11] == 3.0   # DBF Jun/Jan, crop Jul
    assert veg.sai[8, 3] == 1.6
    assert veg.special["ISURBAN"] == 13 and veg.special["ISWATER"] == 17 and veg.special["ISBARREN"] == 16
    assert veg.glob["CO2"] == 395e-6 and veg.glob["O2"] == 0.209 and veg.glob["SWEMX"] == 1.0
    assert np.array_equal(veg.rad["ALBSAT_VIS"], [0.15, 0.11, 0.10, 0.09, 0.08, 0.07, 0.06, 0.05])
    assert np.array_equal(veg.column("SLA", np.array([1, 10, 10, 9])), [80, 60, 60, 50])


def test_shipped_tables_are_the_real_ones():
    assert read_mptable().params.keys() == read_mptable(MPTABLE).params.keys()
    assert all(np.array_equal(read_soilparm().params[k], read_soilparm(SOILPARM).params[k])
               for k in read_soilparm().params)


def test_stas_soil_table():
    soil = read_soilparm(SOILPARM)
    assert len(soil.names) == 19 and soil.names[5] == "LOAM" and soil.names[11] == "CLAY"
    p = soil.params
    assert p["MAXSMC"][5] == 0.439 and p["WLTSMC"][5] == 0.066 and p["REFSMC"][5] == 0.329   # loam
    assert p["BB"][11] == 11.55 and p["SATDK"][0] == 4.66e-5 and p["SATPSI"][4] == 0.955
    assert p["QTZ"][0] == 0.92 and p["MAXSMC"][13] == 1.0                                  # water class


def test_table_quirks_and_errors(tmp_path):
    # the USGS block's CWPVT row has 24 values for 27 classes: a clear error, not a silent shift
    with pytest.raises(InputError, match="CWPVT has 24 values; expected 27"):
        read_mptable(MPTABLE, dataset="usgs")
    with pytest.raises(InputError, match="no soil scheme block 'NOPE'"):
        read_soilparm(SOILPARM, scheme="NOPE")
    with pytest.raises(InputError, match="cannot read the Noah-MP vegetation table"):
        read_mptable(tmp_path / "missing.TBL")
    groups = parse_namelists("&g\n A = 1, 2,\n   3 ! comment\n S = 'two words'\n/\n")
    assert groups == {"g": {"A": [1, 2, 3], "S": ["two words"]}}
