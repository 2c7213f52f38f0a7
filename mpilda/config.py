"""Run configuration: an INI file turned into typed, frozen dataclasses, validated once.

Every key is declared exactly once, as a dataclass field whose metadata carries
its default, documentation, units and allowed range.  The loader, the
``check-config`` printer and the reference page ``docs/config.md`` are all
derived from those declarations, so they cannot drift apart.

Relative paths in a config file are resolved against the directory of that
file (also for ``--set`` overrides), so a config file can be run from anywhere.
"""

from __future__ import annotations

import configparser
import dataclasses
import datetime as dt
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable, Mapping, Optional, Sequence

UTC = dt.timezone.utc

#: The experiments of the paper's Table 1, plus the unperturbed truth run of the twin experiment.
EXPERIMENTS = ("truth", "OL", "DA_SSM", "DA_LAI", "DA_VOD", "DA_SSM+LAI", "DA_SSM+VOD")


class ConfigError(ValueError):
    """A config value is missing, malformed, out of range or inconsistent.

    The message names the file, the section, the key, the offending value and
    what was expected.
    """

    def __init__(self, source: str, section: str, key: str | None, value: Any, expected: str):
        self.source, self.section, self.key, self.value, self.expected = source, section, key, value, expected
        where = f"[{section}]" if key is None else f"[{section}] {key}"
        shown = "" if value is None else f" = {value!r}"
        super().__init__(f"{source}: {where}{shown}: {expected}")


class _Invalid(Exception):
    """Raised by a section's cross-key checks; the loader adds file and section."""

    def __init__(self, key: str, value: Any, expected: str):
        super().__init__(expected)
        self.key, self.value, self.expected = key, value, expected


_REQUIRED = object()


def option(default: Any = _REQUIRED, *, doc: str, units: str | None = None,
           lo: float | None = None, hi: float | None = None,
           choices: Sequence[str] | None = None, must_exist: bool = False, length: int | None = None) -> Any:
    """Declare one config key.

    ``lo``/``hi`` are inclusive bounds; ``choices`` the allowed strings (matched
    case-insensitively and stored in their canonical spelling); ``must_exist``
    requires a path to exist when the config is loaded; ``length`` is the number of
    comma-separated numbers of a tuple key (each within lo..hi).
    """
    return field(metadata=dict(default=default, doc=doc, units=units, lo=lo, hi=hi,
                               choices=tuple(choices) if choices else None, must_exist=must_exist, length=length))


class Section:
    """Base of all config sections: a frozen dataclass with a ``NAME``."""

    NAME: ClassVar[str]

    def check(self) -> None:
        """Cross-key rules within the section; raise ``_Invalid``."""


# ---------------------------------------------------------------------------
# The sections
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Domain(Section):
    """The regular latitude/longitude window of the model grid."""

    NAME: ClassVar[str] = "domain"
    south: float = option(29.875, units="degrees_north", lo=-90, hi=90,
                          doc="Latitude of the centre of the southernmost row of cells.")
    north: float = option(71.625, units="degrees_north", lo=-90, hi=90,
                          doc="Latitude of the centre of the northernmost row of cells.")
    west: float = option(-11.375, units="degrees_east", lo=-180, hi=360,
                         doc="Longitude of the centre of the westernmost column of cells.")
    east: float = option(40.125, units="degrees_east", lo=-180, hi=360,
                         doc="Longitude of the centre of the easternmost column of cells.")
    resolution: float = option(0.25, units="degrees", lo=1e-4, hi=10,
                               doc="Grid spacing in latitude and longitude.")
    tile_size: int = option(4, units="cells", lo=1, hi=1024,
                            doc="Side of the square tiles the grid is cut into; tiles are spread over MPI ranks.")
    landmask_file: Optional[Path] = option(None, must_exist=True,
                                           doc="Optional netCDF land mask overriding the built-in one: 1-D `lat`/`lon` "
                                               "(or `latitude`/`longitude`) and a 2-D variable `landmask`, `land_mask`, "
                                               "`lsm` or `mask`; land where the value is > 0.5. It must hold every "
                                               "cell centre of the grid.")

    def check(self) -> None:
        if self.north < self.south:
            raise _Invalid("north", self.north, f"a latitude >= south ({self.south})")
        if self.east < self.west:
            raise _Invalid("east", self.east, f"a longitude >= west ({self.west})")
        if self.east - self.west >= 360:
            raise _Invalid("east", self.east, "east - west < 360 degrees")
        for key, span in (("north", self.north - self.south), ("east", self.east - self.west)):
            steps = span / self.resolution
            if abs(steps - round(steps)) > 1e-6:
                raise _Invalid(key, getattr(self, key),
                               f"a whole number of resolution steps ({self.resolution}) from "
                               f"{'south' if key == 'north' else 'west'}; got {steps:.6g} steps")
        half = self.resolution / 2
        if self.south - half < -90 - 1e-9 or self.north + half > 90 + 1e-9:
            raise _Invalid("north" if self.north + half > 90 else "south", self.north,
                           "cells (centre +- resolution/2) within -90..90 degrees")

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the grid."""
        return (round((self.north - self.south) / self.resolution) + 1,
                round((self.east - self.west) / self.resolution) + 1)


@dataclass(frozen=True)
class Time(Section):
    """The simulated period and the model time step."""

    NAME: ClassVar[str] = "time"
    start: dt.datetime = option(doc="First instant of the run, ISO 8601 UTC, at 00:00 (e.g. 2015-04-01).")
    end: dt.datetime = option(doc="Instant the run stops (exclusive), ISO 8601 UTC, at 00:00; "
                                  "the paper's period 1 Apr 2015 - 31 Dec 2022 is start = 2015-04-01, end = 2023-01-01.")
    timestep: int = option(900, units="s", lo=1, hi=3600,
                           doc="Model time step; must divide one hour (forcing interval) exactly.")

    def check(self) -> None:
        if 3600 % self.timestep:
            raise _Invalid("timestep", self.timestep, "a divisor of 3600 s (e.g. 300, 600, 900, 1800, 3600)")
        for key in ("start", "end"):
            t = getattr(self, key)
            if (t.hour, t.minute, t.second, t.microsecond) != (0, 0, 0, 0):
                raise _Invalid(key, t, "a time at 00:00 UTC (daily-mean output covers whole UTC days)")
        if self.end <= self.start:
            raise _Invalid("end", self.end, f"a time after start ({format_value(self.start)})")

    @property
    def n_days(self) -> int:
        """Number of simulated days."""
        return (self.end - self.start).days

    @property
    def n_steps(self) -> int:
        """Number of model time steps."""
        return int((self.end - self.start).total_seconds()) // self.timestep


@dataclass(frozen=True)
class Ensemble(Section):
    """Size of the ensemble."""

    NAME: ClassVar[str] = "ensemble"
    members: int = option(24, lo=0, hi=10000,
                          doc="Number of perturbed members (the paper: 24); 0 runs one unperturbed column per cell.")


@dataclass(frozen=True)
class Random(Section):
    """The seed of every random number in a run."""

    NAME: ClassVar[str] = "random"
    seed: int = option(1, lo=0, hi=2**63 - 1,
                       doc="Seed of the counter-based random numbers (perturbations, synthetic world); "
                           "results depend on it and on nothing else random.")


@dataclass(frozen=True)
class Experiment(Section):
    """Which experiment of the paper's Table 1 a run is."""

    NAME: ClassVar[str] = "experiment"
    name: str = option("OL", choices=EXPERIMENTS,
                       doc="truth (unperturbed run on the truth forcing of the twin world), OL (open loop), or one of "
                           "the DA experiments of the paper's Table 1.")


@dataclass(frozen=True)
class Output(Section):
    """Where and how a run writes its files."""

    NAME: ClassVar[str] = "output"
    directory: Path = option(Path("output"), doc="Directory of all output files of the run; created if absent.")
    io_mode: str = option("auto", choices=("auto", "mpio", "gather"),
                          doc="mpio: every rank writes its own cells through parallel HDF5 (h5py built with MPI); "
                              "gather: cells are gathered to rank 0, which writes; auto: mpio on more than one rank "
                              "when h5py has MPI, else gather. Both give identical files.")
    compression: int = option(4, lo=0, hi=9,
                              doc="Deflate level of output variables (0 = none).")
    members: bool = option(False, doc="Also write every member's daily means (daily_members.nc, with a member "
                                      "dimension) in ensemble runs.")
    overpass: bool = option(False, doc="Also write overpass.nc: the state at the satellites' local overpass times "
                                       "(SMAP 06:00/18:00, AMSR2 01:30, the LAI hour) every day; truth runs always "
                                       "write it (synthetic observations are drawn from it).")
    checkpoint_days: int = option(30, units="days", lo=0, hi=100000,
                                  doc="Write a restart every this many simulated days (0: only at the end); a "
                                      "run continues from the newest with `run --resume`.")


@dataclass(frozen=True)
class ForcingSection(Section):
    """The meteorological forcing of the model."""

    NAME: ClassVar[str] = "forcing"
    source: str = option("synthetic", choices=("synthetic", "era5"),
                         doc="synthetic: the synthetic world's ERA5-layout files in [synthetic] directory (made first "
                             "if absent); era5: ERA5 files found by era5_files.")
    era5_files: Optional[Path] = option(None,
                                        doc="Pattern of the ERA5 netCDF files: strftime codes (%Y, %m, %d) select the "
                                            "file of a time, `{var}` the ERA5 short name when each file holds one "
                                            "variable; e.g. /data/era5/ERA5_%Y-%m-%d_{var}.nc (daily files) or "
                                            "/data/era5/era5_%Y%m.nc (monthly files, all variables). Required when "
                                            "source = era5.")
    snow_temperature: float = option(274.66, units="K", lo=263.15, hi=283.15,
                                     doc="Precipitation falls as snow below this air temperature, as rain above; the "
                                         "default is the middle of the Jordan (1991) transition used by Noah-MP "
                                         "(T_f + 0.5 K all snow .. T_f + 2.5 K all rain).")


@dataclass(frozen=True)
class SyntheticSection(Section):
    """The synthetic world: land cover, soils and truth/model forcing made from the seed."""

    NAME: ClassVar[str] = "synthetic"
    directory: Path = option(Path("synthetic"),
                             doc="Directory of the synthetic world (maps, forcing files, climate summary).")
    errors: str = option("realistic", choices=("realistic", "specified"),
                         doc="realistic: the model forcing departs from the truth's by wrong weather and biases "
                             "(weather_error, *_bias_std) and the observations carry biases, representativeness "
                             "errors and the *_noise_std noise; specified: the errors the filter assumes (a "
                             "textbook twin): the model forcing is the truth forcing, the truth run is one more "
                             "realisation of the ensemble's [perturbations] (forcing and state), and the "
                             "observations are the truth plus noise of the [obs.*] error_std, without biases "
                             "(SMAP keeps the EASE-cell averaging).")
    margin: float = option(1.0, units="degrees", lo=0.5, hi=10.0,
                           doc="The ERA5-layout forcing files cover the domain plus this margin on every side.")
    precip_bias_std: float = option(0.25, lo=0.0, hi=1.0,
                                    doc="Standard deviation of the log of the per-cell multiplicative bias of the "
                                        "model forcing's precipitation against the truth forcing.")
    radiation_bias_std: float = option(0.05, lo=0.0, hi=0.5,
                                       doc="Standard deviation of the log of the per-cell multiplicative bias of the "
                                           "model forcing's shortwave radiation against the truth forcing.")
    truth_directory: Path = option(Path("truth"), doc="Output directory of the truth run, whose overpass.nc the "
                                                      "synthetic observations (make-obs) are drawn from.")
    smap_noise_std: float = option(0.01, units="m3 m-3", lo=0.0, hi=0.5,
                                   doc="Retrieval noise of synthetic SMAP SSM, in model units before the "
                                       "observation bias (EASE-cell averaging adds representativeness error).")
    lai_noise_std: float = option(0.05, units="m2 m-2", lo=0.0, hi=5.0,
                                  doc="Noise of synthetic CGLS LAI, in model units before the scale bias.")
    vod_noise_std: float = option(0.03, lo=0.0, hi=5.0, doc="Noise of synthetic AMSR2 VOD.")
    lai_pixel_size: float = option(1.0 / 112.0, units="degrees", lo=1.0 / 336.0, hi=0.25,
                                   doc="Pixel size of synthetic CGLS LAI files (the product's is 1/336 degree; "
                                       "coarser pixels keep files of large domains small).")
    weather_error: float = option(0.15, lo=0.0, hi=1.0,
                                  doc="Fraction of the variance of the weather anomalies (storms, clouds, synoptic "
                                      "temperature) that the model forcing gets wrong: its weather fields have a "
                                      "correlation of sqrt(1 - weather_error) with the truth's.")
    vod_error_spread: float = option(0.0, lo=0.0, hi=10.0,
                                     doc="Spatially varying error of synthetic VOD where the operator is poor: a "
                                         "pixel's error std is the VOD noise times (1 + vod_error_spread * g), g the "
                                         "fraction of its model cells that are cropland (IGBP 12, 14); 0: the same "
                                         "error everywhere (the paper's assumption).")
    vod_error_smoothing_days: int = option(1, units="days", lo=1, hi=60,
                                           doc="LPDR-like smoothing of synthetic VOD: its errors are a k-day moving "
                                               "average of daily keyed normals, rescaled to the same variance "
                                               "(autocorrelation (k - L) / k at a lag of L < k days, 0 beyond); 1: "
                                               "independent daily errors.")
    irrigation_ssm: float = option(0.0, units="m3 m-3", lo=0.0, hi=0.3,
                                   doc="A summer wetting of the retrievals only: added to the synthetic SMAP "
                                       "retrievals (after their bias) in irrigation_months, times the cropland "
                                       "fraction (IGBP 12, 14) of the EASE cell; the truth run is unchanged, so "
                                       "it is a seasonal retrieval error (irrigation the model lacks: "
                                       "irrigation_threshold). 0: none.")
    irrigation_threshold: float = option(0.0, lo=0.0, hi=1.0,
                                         doc="Irrigation the model lacks, in the truth: the truth run irrigates its "
                                             "cropland cells (IGBP 12, 14) in irrigation_months, each day at 06:00 "
                                             "local when the root-zone (top 1 m) moisture availability (theta - "
                                             "WLTSMC) / (REFSMC - WLTSMC) is below this threshold, with the water "
                                             "that brings the top 1 m to field capacity, as rain over 4 h (the "
                                             "sprinkler scheme of Ozdogan et al. 2010; 0.5 in their paper). The "
                                             "open loop and the DA runs never get it; the synthetic SMAP retrievals "
                                             "carry it. 0: none.")
    irrigation_months: str = option("6, 7, 8", doc="Comma-separated months (1..12) of the irrigation wetting "
                                                   "(irrigation_ssm) and of the truth's irrigation "
                                                   "(irrigation_threshold).")

    def check(self) -> None:
        try:
            months = [int(m) for m in self.irrigation_months.replace(",", " ").split()]
        except ValueError:
            months = []
        if not months or any(not 1 <= m <= 12 for m in months) or len(set(months)) != len(months):
            raise _Invalid("irrigation_months", self.irrigation_months,
                           "comma-separated distinct months 1..12 (e.g. 6, 7, 8)")

    @property
    def irrigation_month_list(self) -> tuple[int, ...]:
        """The irrigation months (1..12)."""
        return tuple(int(m) for m in self.irrigation_months.replace(",", " ").split())


@dataclass(frozen=True)
class ModelSection(Section):
    """Static inputs of the land surface model."""

    NAME: ClassVar[str] = "model"
    landcover_file: Optional[Path] = option(None, must_exist=True,
                                            doc="netCDF map of MODIS-IGBP land-cover classes (1..20, variable "
                                                "`landcover`) on lat/lon; default: the synthetic world's map when "
                                                "[forcing] source = synthetic (required otherwise).")
    soil_file: Optional[Path] = option(None, must_exist=True,
                                       doc="netCDF map of STATSGO soil-texture classes (1..19, variable `soil`) on "
                                           "lat/lon; default: the synthetic world's map when [forcing] source = "
                                           "synthetic (required otherwise).")
    mptable_file: Optional[Path] = option(None, must_exist=True,
                                          doc="Noah-MP vegetation table (MPTABLE.TBL, MODIS-IGBP block); default: "
                                              "the copy shipped with mpilda (Noah-MP 4.0.1 as in LIS).")
    soilparm_file: Optional[Path] = option(None, must_exist=True,
                                           doc="Noah-MP soil table (SOILPARM.TBL, STAS block); default: the copy "
                                               "shipped with mpilda.")
    dveg: int = option(5, lo=2, hi=5,
                       doc="Noah-MP's dynamic vegetation option: 5 = prognostic LAI with the vegetated fraction "
                           "fixed at the cell's maximum SHDMAX (the paper's); 2 = prognostic LAI with the "
                           "vegetated fraction 1 - exp(-0.52 (LAI + SAI)).")
    shdmax_file: Optional[Path] = option(None, must_exist=True,
                                         doc="netCDF map of the maximum green vegetation fraction SHDMAX (variable "
                                             "`shdmax`, 0..1, on lat/lon; in LIS the maximum of the monthly "
                                             "greenness climatology); default: the synthetic world's map when "
                                             "[forcing] source = synthetic (required otherwise with dveg = 5).")
    tbot_file: Optional[Path] = option(None, must_exist=True,
                                       doc="netCDF map of the soil temperature at 8 m depth TBOT (variable `tbot`, K, "
                                           "fixed in time; e.g. the mean annual air temperature); default: the "
                                           "synthetic world's map when [forcing] source = synthetic (required "
                                           "otherwise).")
    drainage_slope: float = option(0.1, lo=0.0, hi=1.0,
                                   doc="Free drainage at the bottom of the soil column is this factor times the "
                                       "conductivity of layer 4 (Noah-MP SLOPE; 0.1 = slope type 1).")

    def check(self) -> None:
        if self.dveg not in (2, 5):
            raise _Invalid("dveg", self.dveg, "2 (vegetated fraction from LAI + SAI) or 5 (vegetated fraction = "
                                              "SHDMAX, the paper's)")


#: The 5 x 5 correlation of the state perturbations SM1..SM4, LAI (SPEC section 3 / paper Table 2).
STATE_CORRELATION = (1.0, 0.6, 0.4, 0.2, 0.08,
                     0.6, 1.0, 0.6, 0.4, 0.13,
                     0.4, 0.6, 1.0, 0.6, 0.19,
                     0.2, 0.4, 0.6, 1.0, 0.10,
                     0.08, 0.13, 0.19, 0.10, 1.0)


@dataclass(frozen=True)
class Perturbations(Section):
    """Forcing and state perturbations of the ensemble (paper Table 2) and the Ryu et al. (2009) correction."""

    NAME: ClassVar[str] = "perturbations"
    forcing_interval: int = option(3600, units="s", lo=60, hi=86400,
                                   doc="Forcing perturbations are drawn anew at this interval (LIS: 1 h); a "
                                       "multiple of the model time step.")
    time_correlation: float = option(86400.0, units="s", lo=0.0, hi=1e8,
                                     doc="e-folding time of the AR(1) time correlation of the forcing "
                                         "perturbations (0: white).")
    sw_std: float = option(0.3, lo=0.0, hi=2.0,
                           doc="Standard deviation of the multiplicative (lognormal, mean 1) shortwave perturbation.")
    lw_std: float = option(50.0, units="W m-2", lo=0.0, hi=500.0,
                           doc="Standard deviation of the additive (normal) longwave perturbation.")
    precip_std: float = option(0.5, lo=0.0, hi=3.0,
                               doc="Standard deviation of the multiplicative (lognormal, mean 1) precipitation "
                                   "perturbation; snowfall takes the same multiplier.")
    sw_lw_correlation: float = option(-0.5, lo=-1.0, hi=1.0, doc="Correlation of SW and LW perturbations.")
    sw_precip_correlation: float = option(-0.8, lo=-1.0, hi=1.0, doc="Correlation of SW and P perturbations.")
    lw_precip_correlation: float = option(0.5, lo=-1.0, hi=1.0, doc="Correlation of LW and P perturbations.")
    state_interval: int = option(10800, units="s", lo=60, hi=864000,
                                 doc="State perturbations are applied at this interval (LIS: 3 h); a multiple "
                                     "of the model time step.")
    sm_std: tuple[float, ...] = option((0.004, 0.00007, 0.00004, 0.00002), units="m3 m-3", lo=0.0, hi=0.1,
                                       length=4,
                                       doc="Standard deviations of the additive perturbations of SM1..SM4.")
    lai_std: float = option(0.01, units="m2 m-2", lo=0.0, hi=2.0,
                            doc="Standard deviation of the additive LAI perturbation.")
    state_correlation: tuple[float, ...] = option(STATE_CORRELATION, lo=-1.0, hi=1.0, length=25,
                                                  doc="Correlation matrix (row by row, 5 x 5) of the state "
                                                      "perturbations of SM1, SM2, SM3, SM4, LAI.")
    truncation: float = option(2.5, units="standard deviations", lo=0.5, hi=10.0,
                               doc="Perturbation normals are cut at this many standard deviations.")
    ryu_correction: bool = option(True, doc="Shift the ensemble every step so that its mean follows the "
                                            "unperturbed control run (Ryu et al. 2009).")
    zero_mean: bool = option(False, doc="Re-centre every forcing perturbation over the members at each draw, "
                                        "after the cut: the SW and P multipliers divided by their member mean "
                                        "(mean exactly 1), the LW perturbation less its member mean (mean "
                                        "exactly 0), so that the members do not shift the forcing mean; the "
                                        "AR(1) state is not touched. No: only the white noises have zero "
                                        "member mean, and the cut and the lognormal leave each draw's applied "
                                        "means off 1 and 0 (by 1.2 % SW, 3.2 % P, 0.5 W m-2 LW, standard "
                                        "deviations at 24 members). LIS shifts its perturbed forcing to the "
                                        "unperturbed mean at each draw (README, Simplifications).")

    def check(self) -> None:
        import numpy as np

        c = np.array(self.state_correlation).reshape(5, 5)
        if not np.allclose(c, c.T) or not np.allclose(np.diag(c), 1.0):
            raise _Invalid("state_correlation", self.state_correlation, "a symmetric matrix with a unit diagonal")
        if np.linalg.eigvalsh(c).min() <= 0:
            raise _Invalid("state_correlation", self.state_correlation, "a positive definite matrix")
        f = np.array([[1.0, self.sw_lw_correlation, self.sw_precip_correlation],
                      [self.sw_lw_correlation, 1.0, self.lw_precip_correlation],
                      [self.sw_precip_correlation, self.lw_precip_correlation, 1.0]])
        if np.linalg.eigvalsh(f).min() <= 0:
            raise _Invalid("lw_precip_correlation", self.lw_precip_correlation,
                           "correlations of SW, LW and P forming a positive definite matrix")


ASSIMILATE = ("auto", "yes", "no")
#: Observation error models of every [obs.<sensor>] section (mpilda.obs.error_models).
ERROR_MODELS = ("constant", "map", "operator")
_ERROR_DOC = ("constant: every retrieval's error standard deviation is error_std (the paper); map: each "
              "cell's is read from error_file; operator ([obs.vod] only): each cell's is the VOD operator's "
              "RMSE on held-out weeks (vod_calibration.nc `rmse`, the paper's Fig. 2), at least error_std.")
_ERROR_FILE_DOC = ("With error = map: a netCDF map on the grid (1-D lat/lon coordinates) whose variable "
                   "`error_std` holds a positive, finite error standard deviation (the sensor's units) at "
                   "every land cell.")
_ADAPTIVE_DOC = ("desroziers: per cell, R is re-estimated at the end of every day as the mean of (O-A)(O-F) of "
                 "the retrievals assimilated in the last adaptive_days days (Desroziers et al. 2005), once "
                 "there are adaptive_min_count of them (before: the configured R of `error`), bounded by "
                 "adaptive_bounds, and used by the next day's analyses; no: R stays the configured one.")
_BOUNDS_DOC = ("Lower and upper bound of the adaptive R as factors of the cell's configured error variance "
               "(error_std squared, or the map's / operator's); lower <= 1 <= upper. The default 0.25, 4 "
               "lets the std range from half to twice the configured one.")
_THIN_DOC = ("Thinning: after a cell's retrievals of day d were assimilated, its retrievals of days d+1 .. "
             "d+k-1 are rejected (mask `thinned`); the retrievals of one UTC day count as one (both SMAP "
             "overpasses of a day pass). 1: every retrieval (the paper).")


@dataclass(frozen=True)
class _ObservationErrors(Section):
    """The observation-error keys every [obs.<sensor>] section has (beyond the paper; defaults: the paper)."""

    error: str = option("constant", choices=ERROR_MODELS, doc=_ERROR_DOC)
    error_file: Optional[Path] = option(None, doc=_ERROR_FILE_DOC)
    adaptive: str = option("no", choices=("no", "desroziers"), doc=_ADAPTIVE_DOC)
    adaptive_days: int = option(30, units="days", lo=1, hi=3660,
                                doc="Length of the moving window of the adaptive R (adaptive = desroziers).")
    adaptive_min_count: int = option(10, lo=1, hi=100000,
                                     doc="Assimilated retrievals a cell needs in the window for an adaptive R; "
                                         "fewer: the configured R.")
    adaptive_bounds: tuple[float, ...] = option((0.25, 4.0), lo=1e-6, hi=1e6, length=2, doc=_BOUNDS_DOC)
    thin_days: int = option(1, units="days", lo=1, hi=366, doc=_THIN_DOC)

    def check(self) -> None:
        _check_observation_error(self)


def _check_observation_error(section) -> None:
    """The rules of the error, adaptive and thinning keys of an [obs.<sensor>] section (raise _Invalid)."""
    if section.error == "operator" and section.NAME != "obs.vod":
        raise _Invalid("error", section.error, "constant or map (operator sets each cell's error from the VOD "
                                               "operator's held-out RMSE: [obs.vod] only)")
    if section.error == "map" and section.error_file is None:
        raise _Invalid("error_file", None, "a netCDF map with variable error_std when error = map")
    lo, hi = section.adaptive_bounds
    if not 0.0 < lo <= 1.0 <= hi:
        raise _Invalid("adaptive_bounds", section.adaptive_bounds,
                       "two factors of the configured error variance, 0 < lower <= 1 <= upper")


@dataclass(frozen=True)
class ObsSmap(_ObservationErrors):
    """SMAP L2 surface soil moisture (SPL2SMP v8)."""

    NAME: ClassVar[str] = "obs.smap"
    assimilate: str = option("auto", choices=ASSIMILATE,
                             doc="auto: as the experiment of [experiment] name says (paper Table 1); yes/no: "
                                 "assimilate or not, to compose other experiments.")
    directory: Optional[Path] = option(None, doc="Directory of the SPL2SMP granules (default: the synthetic "
                                                 "world's obs/smap).")
    error_std: float = option(0.0125, units="m3 m-3", lo=1e-6, hi=1.0,
                              doc="Observation error standard deviation (paper: 0.0125).")
    rescale: str = option("cdf", choices=("cdf", "mean", "seasonal", "no"),
                          doc="cdf: match the retrievals' CDF to the SM1 of the rescaling run per cell and "
                              "calendar month (the paper); mean: remove only the per-cell mean difference (a "
                              "static bias, e.g. of a 36 km retrieval at each 0.25 degree cell it covers); "
                              "seasonal: remove only the difference of the mean seasonal cycles (per cell and "
                              "day of year, [assimilation] climatology_window, as R_anom) and keep the "
                              "retrievals' anomalies unscaled (Kwon et al. 2022; a day of year needs "
                              "min_cdf_samples days with pairs in its window); no: assimilate them as they are.")
    rescale_directory: Optional[Path] = option(None, doc="The run whose SM1 the rescaling is fitted to (default: "
                                                         "[assimilation] ol_directory, the paper's open loop; a "
                                                         "twin with [synthetic] errors = specified may use its "
                                                         "truth: the retrievals' own representativeness error).")
    min_cdf_samples: int = option(30, lo=2, hi=100000,
                                  doc="Observation/model pairs a (cell, month) needs for a robust CDF matching "
                                      "(rescale = cdf), or a cell for a robust mean offset (mean); fewer: its "
                                      "observations are masked.")
    rain_threshold: float = option(3e-6, units="kg m-2 s-1", lo=0.0, hi=1.0,
                                   doc="No SSM assimilation while the forcing rain rate exceeds this "
                                       "(paper: 0.0108 mm/h).")


@dataclass(frozen=True)
class ObsLai(_ObservationErrors):
    """CGLS LAI 300 m v1."""

    NAME: ClassVar[str] = "obs.lai"
    assimilate: str = option("auto", choices=ASSIMILATE, doc="As [obs.smap] assimilate.")
    directory: Optional[Path] = option(None, doc="Directory of the CGLS LAI files (default: the synthetic world's "
                                                 "obs/lai).")
    error_std: float = option(0.05, units="m2 m-2", lo=1e-6, hi=10.0,
                              doc="Observation error standard deviation (paper: 0.05).")
    rescale: bool = option(True, doc="Rescale the LAI to the open loop's seasonal mean and anomaly std (the paper); "
                                     "no: assimilate it as it is.")
    local_hour: float = option(10.0, units="h", lo=0.0, hi=23.99,
                               doc="Local solar time at which a dekad's LAI is assimilated.")
    min_valid_fraction: float = option(0.5, lo=0.0, hi=1.0,
                                       doc="Minimum fraction of valid 300 m pixels in a model cell for a cell value.")


@dataclass(frozen=True)
class ObsVod(_ObservationErrors):
    """AMSR2 LPDR v3 X-band vegetation optical depth, night-time (descending) overpass."""

    NAME: ClassVar[str] = "obs.vod"
    assimilate: str = option("auto", choices=ASSIMILATE, doc="As [obs.smap] assimilate.")
    directory: Optional[Path] = option(None, doc="Directory of the LPDR GeoTIFFs (default: the synthetic world's "
                                                 "obs/vod).")
    error_std: float = option(0.03, lo=1e-6, hi=10.0, doc="Observation error standard deviation (paper: 0.03).")
    r2_threshold: float = option(0.5, lo=-10.0, hi=1.0,
                                 doc="Cells where the operator's R2 on left-out retrievals is at most this ...")
    rmse_threshold: float = option(0.08, lo=0.0, hi=10.0, doc="... and (see mask_rule) its RMSE at least this are "
                                                              "masked.")
    mask_rule: str = option("and", choices=("and", "or"),
                            doc="Combine the R2 and RMSE conditions of the VOD operator mask with and/or.")
    calibration_directory: Optional[Path] = option(
        None, doc="Output directory of the run whose LAI and RZSM at the overpass the VOD operator is fitted to "
                  "(default: [assimilation] ol_directory, the paper's open loop; a twin with [synthetic] errors = "
                  "specified may name the truth run, so that the operator is the one the observations were made "
                  "with).")
    holdout_every: int = option(5, lo=2, hi=100,
                                doc="Every this-many-th week of retrievals is left out of the operator fit and used "
                                    "to evaluate it.")


@dataclass(frozen=True)
class Assimilation(Section):
    """Rescaling tables, climatologies and the EnKF."""

    NAME: ClassVar[str] = "assimilation"
    ol_directory: Path = option(Path("ol"), doc="Output directory of the open-loop run whose daily means give the "
                                                "model climatologies for rescaling and VOD calibration.")
    tables_directory: Optional[Path] = option(None, doc="Where `rescale` and `calibrate-vod` write their tables and "
                                                        "DA runs read them (default: ol_directory).")
    climatology_start: Optional[dt.datetime] = option(None, doc="First day of the climatology and calibration "
                                                                "period (default: [time] start).")
    climatology_end: Optional[dt.datetime] = option(None, doc="End of that period, exclusive (default: [time] "
                                                              "end).")
    climatology_window: int = option(31, units="days", lo=1, hi=365,
                                     doc="Odd width of the moving window of every mean seasonal cycle.")
    unreadable: str = option("skip", choices=("skip", "stop"),
                             doc="An observation file a DA run cannot read (truncated, corrupt): `skip` it, named "
                                 "in a warning and counted in diagnostics.nc (`<sensor>_unreadable_files`) and "
                                 "balance.json; `stop` the run with an error naming it.")

    def check(self) -> None:
        if self.climatology_window % 2 == 0:
            raise _Invalid("climatology_window", self.climatology_window, "an odd number of days")
        if (self.climatology_start is None) != (self.climatology_end is None):
            raise _Invalid("climatology_end", None, "both climatology_start and climatology_end, or neither")
        if self.climatology_start is not None and self.climatology_end <= self.climatology_start:
            raise _Invalid("climatology_end", self.climatology_end,
                           f"a time after climatology_start ({format_value(self.climatology_start)})")


@dataclass(frozen=True)
class Evaluation(Section):
    """Evaluation against independent references (paper section 2.6) and against the truth of the twin world."""

    NAME: ClassVar[str] = "evaluation"
    runs_directory: Optional[Path] = option(None, doc="Directory holding one output directory per experiment, "
                                                      "named OL, DA_SSM, ... (default: [twin] directory).")
    ismn_directory: Optional[Path] = option(None, doc="ISMN download (folders or zip archives); default: the "
                                                      "synthetic world's references/ismn.")
    fluxnet_directory: Optional[Path] = option(None, doc="FLUXNET / Warm Winter 2020 DD files; default: the "
                                                         "synthetic world's references/fluxnet.")
    fluxnet_sites: Optional[Path] = option(None, doc="CSV of the towers (SITE_ID, LOCATION_LAT, LOCATION_LONG, IGBP, "
                                                     "UTC_OFFSET); default: sites.csv in fluxnet_directory (or fluxnet_sites.csv, "
                                                     "the synthetic references' list).")
    xbase_directory: Optional[Path] = option(None, doc="X-BASE daily 0.25 degree files ({VAR}_{YYYY}_025_daily.nc); "
                                                       "default: the synthetic world's references/xbase.")
    accepted_flags: str = option("G", doc="ISMN quality flags accepted (comma-separated; the paper: G only).")
    min_values: int = option(200, lo=1, hi=100000, doc="A site needs at least this many daily values ...")
    min_years: int = option(3, lo=1, hi=100, doc="... in at least this many different years (the paper: 200 in 3).")
    fluxnet_min_good_fraction: float = option(0.8, lo=0.0, hi=1.0,
                                              doc="Minimum fraction of good half-hours of a tower's daily value.")


@dataclass(frozen=True)
class Twin(Section):
    """The whole twin experiment in one command (``twin``): stages, spin-ups and experiments."""

    NAME: ClassVar[str] = "twin"
    directory: Path = option(Path("twin"), doc="Root directory of the stages' outputs (truth, OL, the DA "
                                                "experiments, evaluation, report).")
    truth_spinup_cycles: int = option(2, lo=0, hi=1000, doc="Cycles of the run period spinning up the truth.")
    model_spinup_cycles: int = option(2, lo=0, hi=1000,
                                      doc="Cycles of the run period spinning up the (deterministic) model with "
                                          "the model forcing, before the ensemble spin-up.")
    ensemble_spinup_days: int = option(30, units="days", lo=1, hi=100000,
                                       doc="Days of ensemble spin-up just before [time] start (the paper: 1 Jan "
                                           "2013 - 31 Mar 2015).")
    experiments: str = option("DA_SSM, DA_LAI, DA_VOD, DA_SSM+LAI, DA_SSM+VOD",
                              doc="Comma-separated DA experiments run after the open loop.")
    stage_ranks: int = option(0, lo=0, hi=10**6,
                              doc="Ranks per stage where stages do not depend on each other: the truth runs "
                                  "beside the spin-ups, and the DA experiments beside each other, each on this "
                                  "many ranks (0: as many side by side as there are ranks; the number of ranks: "
                                  "one stage after the other). The results are the same either way.")
    beyond: str = option("", doc="Options beyond the paper, each run as a variant of every DA experiment that "
                                 "assimilates its sensor and compared with it (the 'Beyond the paper' table): "
                                 "comma-separated among vod_error_operator, adaptive_error, vod_thinning[=days] "
                                 "(default 3 days), ssm_seasonal. Empty: none (the paper).")

    def check(self) -> None:
        for name in (e.strip() for e in self.experiments.split(",") if e.strip()):
            if name not in EXPERIMENTS or name in ("truth", "OL"):
                raise _Invalid("experiments", self.experiments,
                               f"DA experiments among {', '.join(EXPERIMENTS[2:])}{_suggest(name, EXPERIMENTS)}")
        from .beyond import OPTIONS, parse_options

        try:
            parse_options(self.beyond)
        except ValueError:
            raise _Invalid("beyond", self.beyond, f"comma-separated options among {', '.join(OPTIONS)} "
                                                  f"(vod_thinning=<days >= 1>)") from None

    @property
    def experiment_list(self) -> list[str]:
        return [e.strip() for e in self.experiments.split(",") if e.strip()]


@dataclass(frozen=True)
class Spinup(Section):
    """Spin-up: cycling a forcing period before the run."""

    NAME: ClassVar[str] = "spinup"
    cycles: int = option(0, lo=0, hi=1000,
                         doc="Number of times the spin-up period is run before the run period (0: none; the "
                             "paper spins up for 30 years).")
    start: Optional[dt.datetime] = option(None, doc="First day of the cycled period (default: [time] start).")
    end: Optional[dt.datetime] = option(None, doc="End of the cycled period, exclusive (default: [time] end).")
    tolerance: float = option(0.0, lo=0.0, hi=1.0,
                              doc="Stop cycling early when, from one cycle to the next, no cell's cycle-mean soil "
                                  "moisture, LAI and total carbon change by more than this relative amount "
                                  "(0: always run all cycles).")
    restart_file: Optional[Path] = option(None, must_exist=True,
                                          doc="Start from this restart file (written by an earlier run or spin-up) "
                                              "instead of a cold start.")

    def check(self) -> None:
        if (self.start is None) != (self.end is None):
            raise _Invalid("end" if self.end is None else "start", None, "both start and end, or neither")
        if self.start is not None and self.end <= self.start:
            raise _Invalid("end", self.end, f"a time after start ({format_value(self.start)})")


@dataclass(frozen=True)
class Site(Section):
    """Point columns run by ``site``: the columns, their parameters, initial states and forcing."""

    NAME: ClassVar[str] = "site"
    columns_file: Optional[Path] = option(None, must_exist=True,
                                          doc="A columns.json in the layout of the Noah-MP reference package (per "
                                              "column: id, lat, lon, landcover, soil, shdmax, tbot_k and the `init` "
                                              "state), with each column's forcing in forcing/<id>.nc beside it.")


SECTIONS: tuple[type[Section], ...] = (Domain, Time, Ensemble, Random, Experiment, Output, ForcingSection,
                                       SyntheticSection, ModelSection, Spinup, Perturbations, ObsSmap, ObsLai, ObsVod,
                                       Assimilation, Evaluation, Twin, Site)


@dataclass(frozen=True)
class Config:
    """A validated run configuration: one attribute per section."""

    domain: Domain
    time: Time
    ensemble: Ensemble
    random: Random
    experiment: Experiment
    output: Output
    forcing: ForcingSection
    synthetic: SyntheticSection
    model: ModelSection
    spinup: Spinup
    perturbations: Perturbations
    obs_smap: ObsSmap
    obs_lai: ObsLai
    obs_vod: ObsVod
    assimilation: Assimilation
    evaluation: Evaluation
    twin: Twin
    site: Site
    source: str = "<config>"

    @property
    def landcover_file(self) -> Path:
        """The land-cover map of the run (the synthetic world's unless given)."""
        return self.model.landcover_file or self.synthetic.directory / "landcover.nc"

    def sensors(self) -> dict[str, bool]:
        """Which sensors a run assimilates: the experiment's (paper Table 1), changed by each assimilate key."""
        name = self.experiment.name
        table = {"smap": name in ("DA_SSM", "DA_SSM+LAI", "DA_SSM+VOD"),
                 "lai": name in ("DA_LAI", "DA_SSM+LAI"),
                 "vod": name in ("DA_VOD", "DA_SSM+VOD")}
        for sensor, section in (("smap", self.obs_smap), ("lai", self.obs_lai), ("vod", self.obs_vod)):
            if section.assimilate != "auto":
                table[sensor] = section.assimilate == "yes"
        return table

    def obs_directory(self, sensor: str) -> Path:
        """Directory of a sensor's files: the configured one, or the synthetic world's obs/<sensor>."""
        given = getattr(self, f"obs_{sensor}").directory
        return given or self.synthetic.directory / "obs" / sensor

    def reference_directory(self, kind: str) -> Path:
        """Where the references of a kind (ismn, fluxnet, xbase) are: configured, or the synthetic world's."""
        given = getattr(self.evaluation, f"{kind}_directory")
        return given or self.synthetic.directory / "references" / kind

    @property
    def runs_directory(self) -> Path:
        return self.evaluation.runs_directory or self.twin.directory

    @property
    def tables_directory(self) -> Path:
        """Where rescaling and VOD calibration tables live."""
        return self.assimilation.tables_directory or self.assimilation.ol_directory

    @property
    def climatology_period(self) -> tuple[dt.datetime, dt.datetime]:
        a = self.assimilation
        return (a.climatology_start or self.time.start, a.climatology_end or self.time.end)

    @property
    def soil_file(self) -> Path:
        """The soil-texture map of the run (the synthetic world's unless given)."""
        return self.model.soil_file or self.synthetic.directory / "soil.nc"

    @property
    def shdmax_file(self) -> Path:
        """The map of the maximum vegetation fraction (the synthetic world's unless given)."""
        return self.model.shdmax_file or self.synthetic.directory / "shdmax.nc"

    @property
    def tbot_file(self) -> Path:
        """The map of the deep soil temperature TBOT (the synthetic world's unless given)."""
        return self.model.tbot_file or self.synthetic.directory / "tbot.nc"

    def to_ini(self) -> str:
        """The resolved configuration, every key with its value, as INI text."""
        lines = [f"# mpilda configuration resolved from {self.source}"]
        for cls in SECTIONS:
            section = getattr(self, _attr(cls))
            lines.append(f"\n[{cls.NAME}]")
            for f in dataclasses.fields(section):
                lines.append(f"{f.name} = {format_value(getattr(section, f.name))}")
        return "\n".join(lines) + "\n"


def _attr(cls: type[Section]) -> str:
    """The Config attribute of a section (its name, dots as underscores)."""
    return cls.NAME.replace(".", "_")


# ---------------------------------------------------------------------------
# Parsing values
# ---------------------------------------------------------------------------

def format_value(value: Any) -> str:
    """Format a typed value the way the INI parser reads it back."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple):
        return ", ".join(repr(float(v)) for v in value)
    return str(value)


def parse_time(text: str) -> dt.datetime:
    """Parse an ISO 8601 time that is in UTC (naive, ``Z`` or ``+00:00``)."""
    text = text.strip()
    value = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    if value.tzinfo is not None and value.utcoffset() != dt.timedelta(0):
        raise ValueError("not UTC")
    return value.replace(tzinfo=UTC)


def _base_type(annotation: Any) -> tuple[type, bool]:
    """(type, optional) of a field annotation such as ``Optional[Path]``."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return annotation, False


def _parse(f: dataclasses.Field, annotation: Any, raw: str, base_dir: Path) -> Any:
    """Turn the text of one key into its typed value, or raise ValueError with what was expected."""
    typ, optional = _base_type(annotation)
    meta = f.metadata
    text = raw.strip()
    if optional and text.lower() in ("", "none"):
        return None
    if typing.get_origin(typ) is tuple:
        try:
            values = tuple(float(t) for t in text.replace(",", " ").split())
        except ValueError:
            raise ValueError(f"{meta['length']} comma-separated numbers") from None
        if len(values) != meta["length"] or not all(math.isfinite(v) for v in values):
            raise ValueError(f"{meta['length']} comma-separated finite numbers; got {len(values)}")
        lo, hi = meta["lo"], meta["hi"]
        if any((lo is not None and v < lo) or (hi is not None and v > hi) for v in values):
            raise ValueError(f"numbers in [{lo}, {hi}]")
        return values
    if typ is bool:
        states = configparser.ConfigParser.BOOLEAN_STATES
        if text.lower() not in states:
            raise ValueError("a boolean (yes/no, true/false, on/off, 1/0)")
        return states[text.lower()]
    if typ is int:
        try:
            value: Any = int(text)
        except ValueError:
            raise ValueError("an integer") from None
    elif typ is float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError("a number") from None
        if not math.isfinite(value):
            raise ValueError("a finite number")
    elif typ is dt.datetime:
        try:
            value = parse_time(text)
        except ValueError:
            raise ValueError("an ISO 8601 UTC time such as 2015-04-01 or 2015-04-01T00:00:00Z") from None
    elif typ is Path:
        if not text:
            raise ValueError("a path")
        value = Path(text).expanduser()
        if not value.is_absolute():
            value = (base_dir / value).resolve()
        if meta["must_exist"] and not value.exists():
            raise ValueError(f"an existing file; {value} does not exist")
    elif typ is str:
        value = text
        if meta["choices"]:
            canonical = {c.lower(): c for c in meta["choices"]}
            if text.lower() not in canonical:
                raise ValueError(f"one of {', '.join(meta['choices'])}{_suggest(text, meta['choices'])}")
            value = canonical[text.lower()]
    else:  # pragma: no cover - a declaration error, not a user error
        raise TypeError(f"unsupported config type {typ!r}")
    lo, hi = meta["lo"], meta["hi"]
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        unit = f" {meta['units']}" if meta["units"] else ""
        raise ValueError(f"a value in [{lo}, {hi}]{unit}")
    return value


def _suggest(word: str, candidates: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest candidate (compared case-insensitively), or ''."""
    by_lower = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[match[0]]!r}?)" if match else ""


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

def parse_overrides(items: Sequence[str]) -> list[tuple[str, str, str]]:
    """Split ``section.key=value`` overrides; the section may itself hold dots (``obs.smap.error``)."""
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        section, dot, key = name.strip().rpartition(".")
        if not sep or not dot or not section or not key:
            raise ConfigError("--set", "?", None, item, "an override of the form section.key=value")
        out.append((section, key, value))
    return out


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read, override and validate a config file."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise ConfigError(source, "-", None, None, "an existing config file")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, "-", None, None, f"a readable UTF-8 text file ({exc})") from None
    return config_from_text(text, source=source, base_dir=path.resolve().parent, overrides=overrides)


def config_from_text(text: str, source: str = "<config>", base_dir: Path | None = None,
                     overrides: Sequence[str] = ()) -> Config:
    """Validate INI text; ``overrides`` are ``section.key=value`` strings applied on top."""
    parser = configparser.ConfigParser(interpolation=None, default_section="__no_default__")
    parser.optionxform = str  # keys are case-sensitive lower_snake_case
    try:
        parser.read_string(text, source=source)
    except configparser.Error as exc:
        raise ConfigError(source, "-", None, None, f"valid INI syntax ({exc.message.splitlines()[0]})") from None
    raw: dict[str, dict[str, tuple[str, str]]] = {}
    for section in parser.sections():
        raw[section] = {k: (v, source) for k, v in parser.items(section)}
    for section, key, value in parse_overrides(overrides):
        raw.setdefault(section, {})[key] = (value, f"{source} (--set {section}.{key})")
    return config_from_mapping(raw, source, base_dir or Path.cwd())


def config_from_mapping(raw: Mapping[str, Mapping[str, tuple[str, str]]], source: str, base_dir: Path) -> Config:
    """Build the Config from ``{section: {key: (text, where it came from)}}``."""
    known = {cls.NAME: cls for cls in SECTIONS}
    for section in raw:
        if section not in known:
            raise ConfigError(source, section, None, None, f"unknown section{_suggest(section, known)}; "
                                                           f"the sections are {', '.join(known)}")
    built: dict[str, Section] = {}
    for cls in SECTIONS:
        given = dict(raw.get(cls.NAME, {}))
        hints = typing.get_type_hints(cls)
        values = {}
        names = [f.name for f in dataclasses.fields(cls)]
        for key, (_, where) in given.items():
            if key not in names:
                raise ConfigError(where, cls.NAME, key, None,
                                  f"unknown key{_suggest(key, names)}; the keys of [{cls.NAME}] are {', '.join(names)}")
        for f in dataclasses.fields(cls):
            if f.name in given:
                text, where = given[f.name]
                try:
                    values[f.name] = _parse(f, hints[f.name], text, base_dir)
                except ValueError as exc:
                    raise ConfigError(where, cls.NAME, f.name, text, f"expected {exc}") from None
            elif f.metadata["default"] is _REQUIRED:
                raise ConfigError(source, cls.NAME, f.name, None, "a value is required (no default)")
            else:
                values[f.name] = f.metadata["default"]
                if isinstance(values[f.name], Path) and not values[f.name].is_absolute():
                    values[f.name] = (base_dir / values[f.name]).resolve()
        section = cls(**values)
        try:
            section.check()
        except _Invalid as exc:
            where = given.get(exc.key, ("", source))[1]
            raise ConfigError(where, cls.NAME, exc.key, format_value(exc.value), f"expected {exc.expected}") from None
        built[_attr(cls)] = section
    cfg = Config(source=source, **built)
    _check_across_sections(cfg, raw, source)
    return cfg


def _check_across_sections(cfg: Config, raw, source: str) -> None:
    """Rules that tie keys of different sections together."""
    def where(section: str, key: str) -> str:
        return raw.get(section, {}).get(key, ("", source))[1]

    for key in ("forcing_interval", "state_interval"):
        value = getattr(cfg.perturbations, key)
        if value % cfg.time.timestep:
            raise ConfigError(where("perturbations", key), "perturbations", key, str(value),
                              f"expected a multiple of [time] timestep ({cfg.time.timestep} s)")
    if 3600 % cfg.perturbations.forcing_interval and cfg.perturbations.forcing_interval % 3600:
        raise ConfigError(where("perturbations", "forcing_interval"), "perturbations", "forcing_interval",
                          str(cfg.perturbations.forcing_interval), "expected a divisor or multiple of 3600 s")
    sp = cfg.spinup
    if sp.start is not None:
        for key, t in (("start", sp.start), ("end", sp.end)):
            if (t.hour, t.minute, t.second) != (0, 0, 0):
                raise ConfigError(where("spinup", key), "spinup", key, format_value(t), "expected a time at 00:00 UTC")
    if cfg.forcing.source == "era5":
        if cfg.forcing.era5_files is None:
            raise ConfigError(where("forcing", "source"), "forcing", "era5_files", None,
                              "a file pattern is required when [forcing] source = era5")
        needed = ("landcover_file", "soil_file", "tbot_file") + (("shdmax_file",) if cfg.model.dveg == 5 else ())
        for key in needed:
            if getattr(cfg.model, key) is None:
                raise ConfigError(where("forcing", "source"), "model", key, None,
                                  "a map is required when [forcing] source = era5 (the synthetic world's maps "
                                  "are the default only with source = synthetic)")


# ---------------------------------------------------------------------------
# Reference documentation
# ---------------------------------------------------------------------------

def reference_markdown() -> str:
    """The reference page of all config keys (``docs/config.md``)."""
    out = ["# Configuration reference", "",
           "<!-- Generated by `python -m mpilda.config` from the declarations in mpilda/config.py; "
           "do not edit by hand (a test fails when this page is stale). -->", "",
           "A run is configured by one INI file. Every key below may also be given on the command line as "
           "`--set section.key=value`. Relative paths are resolved against the directory of the config file. "
           "Times are ISO 8601 in UTC.", ""]
    for cls in SECTIONS:
        out += [f"## [{cls.NAME}]", "", (cls.__doc__ or "").strip().splitlines()[0], "",
                "| key | type | default | units | allowed | meaning |", "|---|---|---|---|---|---|"]
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            typ, optional = _base_type(hints[f.name])
            meta = f.metadata
            default = "*required*" if meta["default"] is _REQUIRED else f"`{format_value(meta['default'])}`"
            if meta["default"] is None:
                default = "*none*"
            allowed = ""
            if meta["choices"]:
                allowed = ", ".join(f"`{c}`" for c in meta["choices"])
            elif meta["lo"] is not None or meta["hi"] is not None:
                allowed = f"{meta['lo']} .. {meta['hi']}"
            tname = {dt.datetime: "time", Path: "path"}.get(typ, getattr(typ, "__name__", "numbers"))
            if typing.get_origin(typ) is tuple:
                tname = f"{meta['length']} numbers"
            if optional:
                tname += " (optional)"
            out.append(f"| `{f.name}` | {tname} | {default} | {meta['units'] or ''} | {allowed} | {meta['doc']} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    print(reference_markdown(), end="")
