"""Surface energy balance: canopy and ground temperatures solved together.

Noah-MP's vegetated/bare structure (noahmp-physics.md s.4.1-4.4) in one
column: a vegetated fraction FVEG holds a canopy at temperature T_v over the
ground, exchanging through a canopy-air node (T_ah, e_ah); the rest is bare
ground exchanging directly with the air.  mpilda keeps ONE ground temperature
T_g for both parts (Noah-MP keeps one per tile), and solves the two balances

    canopy: SW_v - LW_v(T_v, T_g) - H_v - LE_v = 0
    ground: SW_g - LW_g(T_v, T_g) - H_g - LE_g - G(T_g) = 0

by Newton's method on the 2x2 system with analytic derivatives, a fixed number
of iterations (so a column's result never depends on other columns).
Conductances follow Noah-MP: log-law above the canopy with a bulk-Richardson
stability correction (Louis 1979, instead of the Monin-Obukhov iteration of
SFCDIF1), Noah-MP RAGRB's within-canopy resistance (neutral, FHG = 1) and leaf
boundary-layer resistance RB, sunlit/shaded stomatal resistances in series with
RB for transpiration, and a soil surface resistance for ground evaporation.
Longwave exchange uses Noah-MP's canopy/ground formulas with canopy emissivity
1 - exp(-VAI).  Over snow the ground may not exceed freezing: the energy that
would warm it further melts snow.  The remaining ground residual goes into G,
so the ground balance closes exactly; the canopy residual is the Newton error.
"""

from __future__ import annotations

import numpy as np

from .constants import CPAIR, GRAV, HSUB, HVAP, RAIR, SB, TFRZ, VKC
from .photosynthesis import desat_dt, esat

#: Height of the forcing above the canopy top [m] (ERA5's 10 m wind; Noah-MP adds the canopy height).
FORCING_HEIGHT = 10.0
#: Roughness length of bare ground and snow [m] (Noah-MP: 0.002 for soil, Z0SNO = 0.002).
Z0_GROUND = 0.002
#: Newton iterations of the coupled canopy/ground balance (quadratic convergence from last step's state).
NEWTON_ITERATIONS = 5
MIN_WIND = 1.0     # |U| floor [m s-1] (Noah-MP ENERGY)


def louis_heat_factor(ri: np.ndarray, log_ratio: np.ndarray) -> np.ndarray:
    """Stability factor of the heat exchange coefficient from the bulk Richardson number (Louis 1979, b = c = d = 5)."""
    cn = (VKC / log_ratio) ** 2
    unstable = 1.0 - 15.0 * ri / (1.0 + 75.0 * cn * np.sqrt(np.maximum(-ri, 0.0) * np.exp(log_ratio)))
    stable = 1.0 / (1.0 + 15.0 * ri * np.sqrt(1.0 + 5.0 * np.maximum(ri, 0.0)))
    return np.clip(np.where(ri < 0, unstable, stable), 0.1, 10.0)


def exchange_conductances(wind, tair, t_surface_prev, hvt, z0m, vai_e, cwpvt, dleaf):
    """Aerodynamic conductances [m s-1]: above the canopy, canopy-air to ground, leaf boundary layer, bare ground.

    Returns (c_air_veg, c_ground_veg, rb, c_air_bare) with rb the bulk leaf boundary-layer
    resistance [s m-1] of Noah-MP's RAGRB.
    """
    u = np.maximum(wind, MIN_WIND)
    hvt_s = np.maximum(hvt, 0.1)
    d = 0.65 * hvt_s
    z0 = np.maximum(z0m, Z0_GROUND)
    zref = hvt_s + FORCING_HEIGHT
    log_veg = np.log((zref - d) / z0)
    ri = GRAV * (zref - d) * (tair - t_surface_prev) / (tair * u * u)
    c_air_veg = (VKC / log_veg) ** 2 * louis_heat_factor(ri, log_veg) * u
    ustar = VKC * u / log_veg
    u_top = np.maximum(ustar / VKC * np.log(np.maximum((hvt_s - d) / z0, 1.01)), 0.1)
    cwpc = np.sqrt(np.maximum(cwpvt * vai_e * hvt_s, 1e-6))
    kh = np.maximum(VKC * ustar * (hvt_s - d), 1e-6)
    ra_ground = hvt_s * np.exp(cwpc) / cwpc * (np.exp(-cwpc * Z0_GROUND / hvt_s)
                                               - np.exp(-cwpc * (z0 + d) / hvt_s)) / kh
    rb = np.maximum(cwpc * 50.0 / (1.0 - np.exp(-cwpc / 2.0)) * np.sqrt(dleaf / u_top), 100.0)
    log_bare = np.log(FORCING_HEIGHT / Z0_GROUND)
    ri_b = GRAV * FORCING_HEIGHT * (tair - t_surface_prev) / (tair * u * u)
    c_air_bare = (VKC / log_bare) ** 2 * louis_heat_factor(ri_b, log_bare) * u
    return c_air_veg, 1.0 / np.maximum(ra_ground, 1e-3), rb, c_air_bare


def solve(f, tv0, tg0, snow_clamp=None):
    """Newton solution of the canopy and ground balances.

    ``f`` is a dict of inputs (see ``surface_energy``); returns (tv, tg, fluxes).
    """
    tv, tg = tv0.copy(), tg0.copy()
    for _ in range(NEWTON_ITERATIONS):
        r = _balance(f, tv, tg)
        jvv, jvg, jgv, jgg = r["jvv"], r["jvg"], r["jgv"], r["jgg"]
        if snow_clamp is not None:
            jgv = np.where(snow_clamp, 0.0, jgv)
            jgg = np.where(snow_clamp, 1.0, jgg)
            r["fg"] = np.where(snow_clamp, 0.0, r["fg"])
        det = jvv * jgg - jvg * jgv
        dtv = (-r["fv"] * jgg + jvg * r["fg"]) / det
        dtg = (-r["fg"] * jvv + jgv * r["fv"]) / det
        tv = tv + np.clip(dtv, -20.0, 20.0)
        tg = tg + np.clip(dtg, -20.0, 20.0)
        if snow_clamp is not None:
            tg = np.where(snow_clamp, TFRZ, tg)
    return tv, tg, _balance(f, tv, tg)


def _balance(f, tv, tg):
    """Residuals (fv: canopy, fg: ground) [W m-2], their Jacobian (d residual / d temperature) and the fluxes.

    Residual = energy gained; the Jacobian entries are d(residual)/dT (so Newton solves J dT = -F).
    """
    fv, rc = f["fveg"], f["rho_cp"]
    ca, ch, cgs, cb = f["c_air_veg"], f["c_leaf"], f["c_ground_veg"], f["c_air_bare"]
    cev, ctr, cgw, cbw = f["c_evap"], f["c_transp"], f["c_ground_vap"], f["c_bare_vap"]
    gam_v, gam_g, hs = f["gamma_v"], f["gamma_g"], f["h_surf"]
    ta, ea = f["tair"], f["eair"]
    es_v, es_g = esat(tv), esat(tg)
    s_v, s_g = desat_dt(tv), desat_dt(tg)
    # canopy-air node (vegetated part)
    a = ca + ch + cgs
    tah = (ca * ta + ch * tv + cgs * tg) / a
    cvap = cev + ctr
    b = ca + cvap + cgw
    eah = (ca * ea + cvap * es_v + cgw * hs * es_g) / b
    # sensible and latent heat [W m-2 of grid]
    h_v = fv * rc * ch * (tv - tah)
    le_evap = fv * rc / gam_v * cev * (es_v - eah)
    le_tran = fv * rc / gam_v * ctr * (es_v - eah)
    h_gv = fv * rc * cgs * (tg - tah)
    le_gv = fv * rc / gam_g * cgw * (hs * es_g - eah)
    h_gb = (1.0 - fv) * rc * cb * (tg - ta)
    le_gb = (1.0 - fv) * rc / gam_g * cbw * (hs * es_g - ea)
    # longwave (positive upward, Noah-MP VEGE_FLUX / BARE_FLUX)
    ev, eg, ldn = f["emis_veg"], f["emis_ground"], f["lwdown"]
    sv4, sg4 = SB * tv ** 4, SB * tg ** 4
    ir_c = fv * (-ev * (1.0 + (1.0 - ev) * (1.0 - eg)) * ldn - ev * eg * sg4 + (2.0 - ev * (1.0 - eg)) * ev * sv4)
    ir_g = fv * (eg * sg4 - eg * (1.0 - ev) * ldn - eg * ev * sv4) + (1.0 - fv) * eg * (sg4 - ldn)
    g = f["k_ground"] * (tg - f["t_soil1"])
    res_v = f["sw_canopy"] - ir_c - h_v - le_evap - le_tran
    res_g = f["sw_ground"] - ir_g - h_gv - h_gb - le_gv - le_gb - g
    # derivatives of the fluxes
    d4v, d4g = 4.0 * SB * tv ** 3, 4.0 * SB * tg ** 3
    dtah_v, dtah_g = ch / a, cgs / a
    deah_v, deah_g = cvap * s_v / b, cgw * hs * s_g / b
    dhv_v, dhv_g = fv * rc * ch * (1.0 - dtah_v), -fv * rc * ch * dtah_g
    dlev_v = fv * rc / gam_v * cvap * (s_v - deah_v)
    dlev_g = -fv * rc / gam_v * cvap * deah_g
    dirc_v = fv * (2.0 - ev * (1.0 - eg)) * ev * d4v
    dirc_g = -fv * ev * eg * d4g
    dhg_v = -fv * rc * cgs * dtah_v
    dhg_g = fv * rc * cgs * (1.0 - dtah_g) + (1.0 - fv) * rc * cb
    dleg_v = -fv * rc / gam_g * cgw * deah_v
    dleg_g = fv * rc / gam_g * cgw * (hs * s_g - deah_g) + (1.0 - fv) * rc / gam_g * cbw * hs * s_g
    dirg_v = -fv * eg * ev * d4v
    dirg_g = fv * eg * d4g + (1.0 - fv) * eg * d4g
    # a bare column has no canopy: pin T_v to the air temperature there
    pin = np.where(fv > 0, 0.0, 1.0)
    res_v = res_v - pin * (tv - ta)
    jvv = -(dirc_v + dhv_v + dlev_v) - pin
    jvg = -(dirc_g + dhv_g + dlev_g)
    jgv = -(dirg_v + dhg_v + dleg_v)
    jgg = -(dirg_g + dhg_g + dleg_g + f["k_ground"])
    return dict(fv=res_v, fg=res_g, jvv=jvv, jvg=jvg, jgv=jgv, jgg=jgg, tah=tah, eah=eah,
                h_canopy=h_v, h_ground=h_gv + h_gb, le_evap=le_evap, le_transp=le_tran, le_ground=le_gv + le_gb,
                lw_net_up=ir_c + ir_g, g=g)


def surface_energy(forcing, sw_canopy, sw_ground, state_t, veg, ground, resist):
    """Solve the surface energy balance of all columns.

    Args:
        forcing: dict with tair [K], qair [kg kg-1], psurf [Pa], lwdown [W m-2].
        sw_canopy, sw_ground: absorbed shortwave [W m-2].
        state_t: dict with tv, tg (previous step) [K], t_soil1 [K], snow (bool: snow on the ground).
        veg: dict with fveg, vai_e, emis_veg, c_leaf [m s-1], c_evap [m s-1], c_transp [m s-1].
        ground: dict with emis_ground, h_surf (relative humidity of the surface air), r_surf [s m-1],
            k_ground [W m-2 K-1], fsno.
        resist: dict with c_air_veg, c_ground_veg, c_air_bare [m s-1].
    Returns (tv, tg, fluxes) where fluxes holds h (sensible), le_evap (canopy evaporation),
    le_transp, le_ground, g (ground heat into the soil, residual-closed), melt_energy (>= 0,
    energy available to melt snow), lw_net_up, canopy_residual, tah, eah, latent heats.
    """
    ta, p = forcing["tair"], forcing["psurf"]
    q = forcing["qair"]
    ea = q * p / (0.622 + 0.378 * q)
    rho = (p - 0.378 * ea) / (RAIR * ta)
    lat_v = np.where(state_t["tv"] > TFRZ, HVAP, HSUB)
    fsno = ground["fsno"]
    lat_g = fsno * HSUB + (1.0 - fsno) * np.where(state_t["tg"] > TFRZ, HVAP, HSUB)
    f = dict(fveg=veg["fveg"], rho_cp=rho * CPAIR, c_air_veg=resist["c_air_veg"], c_leaf=veg["c_leaf"],
             c_ground_veg=resist["c_ground_veg"], c_air_bare=resist["c_air_bare"], c_evap=veg["c_evap"],
             c_transp=veg["c_transp"],
             c_ground_vap=1.0 / (1.0 / resist["c_ground_veg"] + ground["r_surf"]),
             c_bare_vap=1.0 / (1.0 / resist["c_air_bare"] + ground["r_surf"]),
             gamma_v=CPAIR * p / (0.622 * lat_v), gamma_g=CPAIR * p / (0.622 * lat_g), h_surf=ground["h_surf"],
             tair=ta, eair=ea, emis_veg=veg["emis_veg"], emis_ground=ground["emis_ground"],
             lwdown=forcing["lwdown"], k_ground=ground["k_ground"], t_soil1=state_t["t_soil1"],
             sw_canopy=sw_canopy, sw_ground=sw_ground)
    tv, tg, r = solve(f, state_t["tv"], state_t["tg"])
    clamp = state_t["snow"] & (tg > TFRZ)
    if clamp.any():
        tv2, tg2, r2 = solve(f, tv, np.where(clamp, TFRZ, tg), snow_clamp=clamp)
        tv, tg = np.where(clamp, tv2, tv), np.where(clamp, tg2, tg)
        r = {k: np.where(clamp, r2[k], r[k]) for k in r}
    # close the ground balance: over clamped snow the residual melts snow, elsewhere it enters the soil
    melt_energy = np.where(clamp, np.maximum(r["fg"], 0.0), 0.0)
    g = r["g"] + np.where(clamp, np.minimum(r["fg"], 0.0), r["fg"])
    fluxes = dict(h=r["h_canopy"] + r["h_ground"], h_canopy=r["h_canopy"], le_evap=r["le_evap"],
                  le_transp=r["le_transp"], le_ground=r["le_ground"], g=g, melt_energy=melt_energy,
                  lw_net_up=r["lw_net_up"], canopy_residual=r["fv"], tah=r["tah"], eah=r["eah"],
                  lat_v=lat_v, lat_g=lat_g, eair=ea, rho=rho)
    return tv, tg, fluxes
