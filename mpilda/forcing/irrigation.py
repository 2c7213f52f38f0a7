"""Sprinkler irrigation of the synthetic world's truth: water the model runs do not get.

With ``[synthetic] irrigation_threshold = f > 0`` the truth run of a synthetic world irrigates
its cropland cells (IGBP 12, 14) in ``[synthetic] irrigation_months``, demand-driven as the
sprinkler scheme of Ozdogan et al. (2010, J. Hydrometeor. 11, 171-184) that LIS offers: once a
day, at 06:00 local solar time, a cell whose root-zone moisture availability

    (theta - theta_wilt) / (theta_ref - theta_wilt)

(theta the thickness-weighted soil moisture of the top 1 m, the RZSM; theta_ref and theta_wilt
the soil's field capacity REFSMC and wilting point WLTSMC) is below f gets the water that brings
the top 1 m back to field capacity, (theta_ref - theta) x 1000 mm, as rain at a constant rate over
the next 4 hours (06:00-10:00 local, Ozdogan et al.'s schedule). The water enters through the
forcing's rainfall, so Noah-MP's interception, infiltration and runoff share it out and the water
balance counts it as precipitation. The open loop and the DA runs never get it: it is the
anomaly the model lacks (the paper's section 4.2.1; Kumar et al. 2015, Kwon et al. 2022), and the
SMAP retrievals made from the truth carry it.

The kernel knows nothing of files or MPI: per-cell arrays (n_cells,), no reductions.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from ..landscape import CROPLANDS
from ..model.constants import DENH2O, DZ, RZSM_LAYERS

#: Local solar hour at which the day's irrigation is decided and starts, and its duration [h]
#: (Ozdogan et al. 2010: 06:00-10:00 local).
START_HOUR, HOURS = 6.0, 4.0


class Irrigation:
    """Daily demand-driven sprinkler irrigation of the cropland cells of one rank.

    lon: (n_cells,) longitudes [degrees east] (local solar time = UTC + lon / 15 h);
    landcover: (n_cells,) IGBP classes; smcref, smcwlt: (n_cells,) field capacity and wilting
    point [m3 m-3]; threshold: the root-zone moisture availability below which a cell is
    irrigated (0..1); months: the irrigation months (1..12, of the UTC date); dt_s: model step [s].
    """

    def __init__(self, lon: np.ndarray, landcover: np.ndarray, smcref: np.ndarray, smcwlt: np.ndarray,
                 threshold: float, months: tuple[int, ...], dt_s: int):
        self.offset_s = np.asarray(lon, dtype=np.float64) * 240.0            # local solar time - UTC [s]
        self.irrigated = np.isin(landcover, CROPLANDS)
        self.smcref = np.asarray(smcref, dtype=np.float64)
        self.smcwlt = np.asarray(smcwlt, dtype=np.float64)
        self.threshold, self.months, self.dt_s = float(threshold), tuple(months), int(dt_s)
        n = self.offset_s.size
        #: the day's irrigation rate of each cell [kg m-2 s-1], decided at 06:00 local
        self.rate = np.zeros(n)
        #: water given since the run's start [kg m-2 = mm]
        self.water = np.zeros(n)

    def demand(self, rzsm: np.ndarray) -> np.ndarray:
        """(n_cells,) water [mm] that brings a root zone of soil moisture ``rzsm`` (n_cells,) [m3 m-3]
        back to field capacity where its availability is below the threshold, 0 elsewhere."""
        availability = (rzsm - self.smcwlt) / (self.smcref - self.smcwlt)
        depth = DZ[:RZSM_LAYERS].sum()                                        # 1 m
        need = self.irrigated & (availability < self.threshold)
        return np.where(need, (self.smcref - rzsm) * depth * DENH2O, 0.0)

    def add(self, forcing: dict[str, np.ndarray], rzsm: np.ndarray, t: dt.datetime) -> dict[str, np.ndarray]:
        """The forcing of the step from ``t`` (UTC) with the irrigation water added to its rainfall;
        ``rzsm``: (n_cells,) the truth's root-zone soil moisture at ``t`` [m3 m-3]."""
        utc_s = t.hour * 3600 + t.minute * 60 + t.second
        since_start = np.mod(utc_s + self.offset_s - START_HOUR * 3600.0, 86400.0)   # s since 06:00 local
        deciding = since_start < self.dt_s                   # this step holds the cell's 06:00 local
        if deciding.any():
            water = self.demand(rzsm) if t.month in self.months else np.zeros_like(self.rate)
            self.rate = np.where(deciding, water / (HOURS * 3600.0), self.rate)
        applying = since_start < HOURS * 3600.0
        if not (applying & (self.rate > 0)).any():
            return forcing
        rain = np.where(applying, self.rate, 0.0)
        self.water += rain * self.dt_s
        return dict(forcing, rainf=forcing["rainf"] + rain)

    def arrays(self) -> dict[str, np.ndarray]:
        """The irrigation's state for a restart: (n_cells,) arrays."""
        return {"irrigation_rate": self.rate.copy(), "irrigation_water": self.water.copy()}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        """Resume from ``arrays()`` of a restart (a restart without them: no irrigation under way)."""
        self.rate = np.array(arrays.get("irrigation_rate", np.zeros_like(self.rate)), dtype=np.float64)
        self.water = np.array(arrays.get("irrigation_water", np.zeros_like(self.water)), dtype=np.float64)
