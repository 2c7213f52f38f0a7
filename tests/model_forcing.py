"""Idealised hourly forcing for model tests: daily cycles built from daily statistics, written out by hand."""

import datetime as dt

import numpy as np

UTC = dt.timezone.utc


def saturation_vapour_pressure(t_c):
    """FAO-56 eq. 11 [kPa] of temperature [deg C]."""
    return 0.6108 * np.exp(17.27 * t_c / (t_c + 237.3))


class DiurnalForcing:
    """Forcing of n cells: temperature between tmin (sunrise) and tmax (15 h local), a clear-or-cloudy sun.

    Args: lat, lon (n,) degrees; tmin, tmax [K] (scalars or (n,) or callables of day of year);
    rh [-] relative humidity (constant); wind [m s-1]; sw_daily [J m-2 d-1] (or None: 0.75 of TOA);
    rain_mm_day: rain [mm d-1], falling at 03 h local; snow below 0 deg C.
    """

    def __init__(self, lat, lon, tmin, tmax, rh=0.7, wind=3.0, sw_daily=None, rain_mm_day=0.0, psurf=101325.0):
        self.lat, self.lon = np.asarray(lat, float), np.asarray(lon, float)
        self.tmin, self.tmax, self.rh, self.wind = tmin, tmax, rh, wind
        self.sw_daily, self.rain, self.psurf = sw_daily, rain_mm_day, psurf

    def _value(self, v, doy):
        return v(doy) if callable(v) else v

    def at(self, time):
        doy = time.timetuple().tm_yday
        tmin, tmax = self._value(self.tmin, doy), self._value(self.tmax, doy)
        hours = time.hour + time.minute / 60.0 + self.lon / 15.0
        solar = hours % 24.0
        phase = np.cos(2 * np.pi * (solar - 15.0) / 24.0)        # +1 at 15 h, -1 at 3 h
        tair = 0.5 * (tmin + tmax) + 0.5 * (tmax - tmin) * phase
        decl = 0.409 * np.sin(2 * np.pi * doy / 365.0 - 1.39)   # FAO-56 eq. 24
        phi = np.radians(self.lat)
        cosz = np.sin(phi) * np.sin(decl) + np.cos(phi) * np.cos(decl) * np.cos(np.pi * (solar + 0.125 - 12) / 12)
        ws = np.arccos(np.clip(-np.tan(phi) * np.tan(decl), -1, 1))
        dr = 1 + 0.033 * np.cos(2 * np.pi * doy / 365.0)
        ra = 24 * 3600 / np.pi * 1367.0 * dr * (ws * np.sin(phi) * np.sin(decl)
                                                + np.cos(phi) * np.cos(decl) * np.sin(ws))   # J m-2 d-1
        daily = self.sw_daily if self.sw_daily is not None else 0.75 * ra
        # distribute the daily total in proportion to cos(zenith): integral of max(cosz,0) over a day
        mean_cosz = (ws * np.sin(phi) * np.sin(decl) + np.cos(phi) * np.cos(decl) * np.sin(ws)) / np.pi
        swdown = np.where(cosz > 0, daily / 86400.0 * cosz / np.maximum(mean_cosz, 1e-6), 0.0)
        e_a = self._value(self.rh, doy) * saturation_vapour_pressure(tair - 273.15) * 1000.0   # Pa
        qair = 0.622 * e_a / (self.psurf - 0.378 * e_a)
        emis = 1.24 * (e_a / 100.0 / tair) ** (1.0 / 7.0)       # Brutsaert (1975) clear sky
        lwdown = emis * 5.67e-8 * tair ** 4
        rain_now = np.where(np.abs(solar - 3.0) < 0.5, self._value(self.rain, doy) / 3600.0, 0.0)
        cold = tair < 273.15
        n = self.lat.size
        return dict(swdown=swdown * np.ones(n), lwdown=lwdown * np.ones(n), tair=tair * np.ones(n),
                    qair=qair * np.ones(n), psurf=np.full(n, float(self.psurf)), wind=np.full(n, float(self.wind)),
                    rainf=np.where(cold, 0.0, rain_now) * np.ones(n), snowf=np.where(cold, rain_now, 0.0) * np.ones(n))


def run(model, state, forcing, start, days, dt_s=900, every=None):
    """Run ``days`` days; returns daily sums of selected fluxes {name: (days, m, c)} times dt."""
    steps = int(86400 // dt_s)
    sums = {}
    for d in range(days):
        daily = {}
        for i in range(steps):
            t = start + dt.timedelta(days=d, seconds=i * dt_s)
            fl = model.step(state, forcing.at(t), t)
            for k in ("et", "transpiration", "soil_evaporation", "canopy_evaporation", "qs", "qsb", "gpp", "nee",
                      "snowmelt"):
                daily[k] = daily.get(k, 0.0) + fl[k] * dt_s
        daily.update(lai=state.lai.copy(), swe=state.sneqv.copy(), sm1=state.smc[0].copy(),
                     tsoil1=state.stc[0].copy(), rzsm=state.rzsm.copy())
        for k, v in daily.items():
            sums.setdefault(k, []).append(v)
        if every:
            every(d, state)
    return {k: np.array(v) for k, v in sums.items()}
