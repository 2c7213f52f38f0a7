"""The synthetic world's climate: static, point-wise climatological fields and their seasonal cycles.

Everything here is a pure function of a point's latitude and longitude (and,
for the small random pattern of local precipitation, the seed), so any set of
points gets the same values.  The fields are simple formulas fitted by hand to
station normals (1991-2020 WMO normals, rounded; the stations are named at
each number), driven by three distances computed from the `global-land-mask`
package on a fixed 0.5 degree grid:

* ``d_atlantic``: to the open North Atlantic and its marginal seas (Bay of
  Biscay, Channel, North Sea, Norwegian and Barents Seas) -- the source of
  maritime air; the continentality is ``1 - exp(-d_atlantic / 1500 km)``;
* ``d_windward``: to the open ocean that faces the westerlies (west of Iberia,
  Ireland, Scotland, the western Channel and Norway) -- where the Atlantic rains
  are heaviest; the sheltered North Sea, Irish Sea and Kattegat coasts get less;
* ``d_med``: to the Mediterranean and the Black Sea -- the source of the
  winter rains of the south;
* ``d_sea``: to any sea -- the coastal moderation of temperature, humidity and wind.

There is no orography: every point is at sea level (no lapse rate, no
mountain rain or rain shadow beyond the random local pattern).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.spatial import cKDTree

from ..random import Stream
from .lattice import R_EARTH_KM, Scale, project, static_field

#: Offset from degrees Celsius to kelvin.
T0 = 273.15
_GRID_STEP = 0.5                     # degrees: resolution of the sea points (fine enough for distances >~ 50 km)
_HALF_STEP_KM = 25.0                 # about half of 0.5 degree of latitude (27.8 km), a little less in longitude
_REGION = (20.0, 80.0, -60.0, 70.0)  # south, north, west, east of the sea points: the domain plus >= 10 degrees


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    phi, lam = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=-1)


def _atlantic(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Which sea points belong to the Atlantic and its north-western marginal seas.

    Boxes chosen so that the Mediterranean (east of Gibraltar at 5.6 W, north coast below 44.5 N),
    the Baltic (east of 12 E below 66 N) and the White Sea (below 67.2 N) are excluded.
    """
    return ((lon < -6.0)                                          # open ocean west of Iberia and Morocco
            | ((lon < -1.0) & (lat > 43.2))                       # Bay of Biscay
            | ((lon < 12.0) & (lat > 48.0))                       # Channel, North Sea, Skagerrak, Norwegian Sea
            | ((lat > 68.5)))                                     # Norwegian coast north of 68.5 N, Barents Sea


def _windward(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Which Atlantic sea points face the westerlies: boxes chosen to take the open ocean off Iberia,
    Ireland and the Hebrides, the western Channel and Bristol Channel, the northern North Sea off Norway
    and the Norwegian Sea, and to leave out the southern North Sea, the Irish Sea and the Kattegat."""
    return ((lon < -6.0)
            | ((lon < -4.0) & (lat > 48.0) & (lat < 51.6))
            | ((lon < 5.5) & (lat > 58.0))
            | ((lon < 13.0) & (lat > 62.0))
            | (lat > 68.5))


@lru_cache(maxsize=1)
def _sea_trees() -> tuple[cKDTree, ...]:
    """KD-trees (unit vectors) of the sea points: Atlantic, windward Atlantic, Mediterranean + Black Sea, any sea."""
    from ..cache import cached_array

    s, n, w, e = _REGION
    lat, lon = np.meshgrid(np.arange(s, n + 1e-9, _GRID_STEP), np.arange(w, e + 1e-9, _GRID_STEP), indexing="ij")
    lat, lon = lat.ravel(), lon.ravel()

    def compute():
        from global_land_mask import globe

        return np.asarray(globe.is_ocean(lat, lon), dtype=bool)
    sea = cached_array(f"global-land-mask/sea/{_REGION}/{_GRID_STEP}", compute)
    atl = sea & _atlantic(lat, lon)
    med = sea & ~atl & (lat > 30.0) & (lat < 47.5) & (lon > -6.0) & (lon < 42.0)
    windward = atl & _windward(lat, lon)
    return tuple(cKDTree(_unit_vectors(lat[m], lon[m])) for m in (atl, windward, med, sea))


def sea_distances(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, ...]:
    """Great-circle distances [km] (n,) to the Atlantic, its windward part, the Mediterranean/Black Sea, any sea."""
    v = _unit_vectors(np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64))
    out = []
    for tree in _sea_trees():
        chord, _ = tree.query(v)
        centre = 2.0 * R_EARTH_KM * np.arcsin(np.minimum(chord / 2.0, 1.0))
        # each sea point stands for a 0.5 degree cell: measure to the cell's edge (half a step, ~25 km),
        # so that all sea is at distance 0 instead of a dotted pattern of distances to cell centres
        out.append(np.maximum(centre - _HALF_STEP_KM, 0.0))
    return tuple(out)


def _logistic(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


# Rain climate of Atlantic coasts by latitude [mm yr-1]: station normals Agadir, Casablanca, Larache, Lisbon,
# Porto, Biarritz/Bordeaux, Brest, Valentia, western Scotland, Bergen (2250 with its mountains; 1900 for a
# 0.25 degree cell), Kristiansund, Bodo, Tromso, Hammerfest.
_COAST_LAT = np.array([30.0, 33.0, 35.0, 38.7, 41.0, 45.0, 48.0, 52.0, 57.0, 60.0, 63.0, 67.0, 70.0, 72.0])
_COAST_P = np.array([250., 420., 600., 750., 1200., 1100., 1100., 1300., 1700., 1900., 1600., 1100., 950., 850.])

#: Static random fields of the local precipitation pattern (unresolved orography, coasts): Stream.WEATHER members.
PATTERN_SCALES = (Scale(50, 120.0), Scale(51, 400.0))


@dataclass(frozen=True)
class Climate:
    """Static climate of n points; all arrays (n,).

    Attributes:
        lat, lon: degrees.
        d_atlantic, d_windward, d_med, d_sea: distances [km] (module docstring).
        continentality: 1 - exp(-d_atlantic / 1500 km) [0..1].
        coast: exp(-d_sea / 150 km) [0..1], 1 on a coast.
        t_mean: annual mean 2 m air temperature [K].
        t_amplitude: half the difference between the warmest and coldest daily climatological means [K].
        t_coldest: year fraction of the coldest day [-].
        p_atlantic, p_med, p_convective: annual precipitation of the three regimes before the
            summer drought of the south [mm yr-1].
        atlantic_seasonality: relative winter excess of the Atlantic regime [-].
        summer_drought: strength (0..1) of the subtropical summer drought [-].
        pattern: multiplier of precipitation, the local random pattern (mean 1) [-].
        p_annual: annual precipitation [mm yr-1] of the climatology (all regimes, all factors).
    """

    lat: np.ndarray
    lon: np.ndarray
    d_atlantic: np.ndarray
    d_windward: np.ndarray
    d_med: np.ndarray
    d_sea: np.ndarray
    continentality: np.ndarray
    coast: np.ndarray
    t_mean: np.ndarray
    t_amplitude: np.ndarray
    t_coldest: np.ndarray
    p_atlantic: np.ndarray
    p_med: np.ndarray
    p_convective: np.ndarray
    atlantic_seasonality: np.ndarray
    summer_drought: np.ndarray
    pattern: np.ndarray
    p_annual: np.ndarray

    @classmethod
    def at(cls, seed: int, lat: np.ndarray, lon: np.ndarray) -> "Climate":
        """The climate of points at ``lat``, ``lon`` (n,) [degrees]."""
        lat = np.asarray(lat, dtype=np.float64).ravel()
        lon = np.asarray(lon, dtype=np.float64).ravel()
        d_atl, d_wind, d_med, d_sea = sea_distances(lat, lon)
        c = 1.0 - np.exp(-d_atl / 1500.0)           # e-folding chosen so that Moscow (~1600 km) has c ~ 0.65
        m = np.exp(-d_sea / 150.0)                  # coastal influence fades over ~150 km (sea breeze, fog)

        # Annual mean temperature [degC]: maritime line through Lisbon 16.5 (38.7 N), Brest 12, Bergen 8,
        # Tromso 3 (-0.43 K per degree), plus continentality: inland warmer in the subtropics (Ouargla 23,
        # Libyan interior ~24), colder further north (Bucharest 11, Kyiv 8.4, Moscow 5.8, Sodankyla -0.4).
        maritime = 16.5 - 0.43 * (lat - 38.7)
        inland = -5.0 + 11.0 * _logistic(-(lat - 40.0) / 2.5) - 0.3 * np.maximum(lat - 55.0, 0.0)
        # Boreal interiors away from any sea are colder and more seasonal still (snow, winter inversions,
        # and the shelter of the Scandinavian mountains, which the flat world lacks): Sodankyla -0.4 with a
        # half-range of 13.5 K, Kiruna -1, against Tromso 3 and 8 K on the coast.
        boreal = (1.0 - m) * np.clip((lat - 58.0) / 8.0, 0.0, 1.0)
        t_mean = maritime + c * inland * (1.0 - 0.4 * m) - 4.0 * boreal + T0
        # Seasonal half-range [K]: Lisbon 5.8, Brest 5.3, Bergen 6.7, Tromso 8 on the coasts; Berlin 9.5,
        # Warsaw 10.5, Bucharest 12.5, Moscow 13, Ouargla 12 inland; Rome 8.5 and Athens 9 by the sea.
        t_amp = 5.5 + 0.1 * (lat - 38.7) + 9.5 * c * (1.0 - 0.45 * m) + 4.0 * boreal
        # Coldest day: early February on the coasts (the sea lags), about 20 January inland.
        t_coldest = (20.0 + 12.0 * (1.0 - c)) / 365.25

        # Precipitation regimes [mm yr-1]
        south = _logistic((lat - 37.0) / 2.0)       # subtropical aridity south of ~37 N (Sahara < 50 mm)
        coast_p = np.interp(lat, _COAST_LAT, _COAST_P)
        inland_p = 350.0 * south                     # frontal rain far inland: Warsaw, Moscow, Kyiv ~ 350 + summer
        # the full coastal amount only on windward coasts; a third of it on sheltered ones (Amsterdam 850,
        # Hamburg 770, Gothenburg 900 against Bergen's 2250); Paris ~600, Berlin ~550
        reach = 0.35 * np.exp(-d_atl / 250.0) + 0.65 * np.exp(-d_wind / 250.0)
        p_atl = inland_p + (coast_p - inland_p) * reach
        # Mediterranean winter rains: Algiers 650, Rome 800, Tripoli 250, Alexandria 190, Cairo 25
        p_med = 450.0 * np.exp(-d_med / 250.0) * _logistic((lat - 33.0) / 1.5)
        # Continental summer showers: Moscow, Kyiv and Warsaw get ~30-40 % of their rain in JJA; none south of
        # ~42 N, where the subtropical high rules the summer
        p_conv = 300.0 * c * np.clip((70.0 - lat) / 10.0, 0.3, 1.0) * _logistic((lat - 44.0) / 2.0)
        atl_season = 0.15 + 0.25 * np.exp(-d_atl / 300.0)    # winter excess: Bergen, Brest ~ +40 %
        # Subtropical summer drought: strength 0.9 at 38 N (Athens, Lisbon: JJA ~3-5 % of the year;
        # Rome, Marseille ~8-10 %), fading out north of 47 N
        drought = 0.95 * _logistic(-(lat - 43.5) / 1.5)
        x, y = project(lat, lon)
        z = 0.8 * static_field(seed, Stream.WEATHER, PATTERN_SCALES[0], x, y) \
            + 0.6 * static_field(seed, Stream.WEATHER, PATTERN_SCALES[1], x, y)
        # std of log 0.2: local wet and dry spots of +-20 % (chosen well below the regional contrasts)
        pattern = np.exp(0.2 * z - 0.02)
        clim = cls(lat, lon, d_atl, d_wind, d_med, d_sea, c, m, t_mean, t_amp, t_coldest, p_atl, p_med, p_conv,
                   atl_season, drought, pattern, np.zeros_like(lat))
        yf = (np.arange(73) + 0.5) / 73.0            # 5-day steps are exact enough for the annual sum
        annual = clim.precip_rate(yf).mean(axis=0) * 24.0 * 365.25
        object.__setattr__(clim, "p_annual", annual)
        return clim

    def temperature(self, yf: np.ndarray) -> np.ndarray:
        """Climatological daily mean 2 m temperature [K] at year fractions (n_t,): (n_t, n)."""
        phase = 2.0 * np.pi * (np.asarray(yf, dtype=np.float64)[:, None] - self.t_coldest[None, :])
        return self.t_mean[None, :] - self.t_amplitude[None, :] * np.cos(phase)

    def summer(self, yf: np.ndarray) -> np.ndarray:
        """Summer index (n_t, n): 0 on the coldest day, 1 half a year later."""
        phase = 2.0 * np.pi * (np.asarray(yf, dtype=np.float64)[:, None] - self.t_coldest[None, :])
        return 0.5 * (1.0 - np.cos(phase))

    def precip_rate(self, yf: np.ndarray) -> np.ndarray:
        """Climatological mean precipitation rate [mm h-1] at year fractions (n_t,): (n_t, n)."""
        y = np.asarray(yf, dtype=np.float64)[:, None]
        two_pi = 2.0 * np.pi
        atl = self.p_atlantic * (1.0 + self.atlantic_seasonality * np.cos(two_pi * (y - 0.96)))  # max mid-Dec
        med = self.p_med * (1.0 + 0.9 * np.cos(two_pi * (y - 0.92)))        # max late Nov, ~0 in summer
        conv = self.p_convective * (1.0 + np.cos(two_pi * (y - 0.54)))      # max mid-July, 0 in winter
        dry = 1.0 - self.summer_drought * np.exp(-((y - 0.56) / 0.11) ** 2)  # centred on 22 July, +-6 weeks
        return (atl + med + conv) * dry * self.pattern / (24.0 * 365.25)
