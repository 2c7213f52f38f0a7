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

Scalar numba functions of one column.
"""

from __future__ import annotations

import math

import numba

from .constants import CPAIR, GRAV, HSUB, HVAP, RAIR, SB, TFRZ, VKC
from .jit import clip, fmax, fmin, jit
from .photosynthesis import esat_and_slope

#: Height of the forcing above the canopy top [m] (ERA5's 10 m wind; Noah-MP adds the canopy height).
FORCING_HEIGHT = 10.0
#: Roughness length of bare ground and snow [m] (Noah-MP: 0.002 for soil, Z0SNO = 0.002).
Z0_GROUND = 0.002
#: Newton iterations of the coupled canopy/ground balance (quadratic convergence from last step's state).
NEWTON_ITERATIONS = 5
MIN_WIND = 1.0     # |U| floor [m s-1] (Noah-MP ENERGY)
_LOG_BARE = math.log(FORCING_HEIGHT / Z0_GROUND)
_RATIO_BARE = math.exp(_LOG_BARE)
#: The fields of canopy_geometry in a parameter record.
GEOMETRY_FIELDS = ("hvt_s", "disp", "z0", "zref", "log_veg", "ratio_veg", "log_top")


@jit
def louis_heat_factor(ri, log_ratio, ratio):
    """Stability factor of the heat exchange coefficient from the bulk Richardson number (Louis 1979, b = c = d = 5).

    ri [-]; log_ratio = ln(z / z0) of the neutral exchange coefficient (VKC / log_ratio)^2
    and ratio = exp(log_ratio).
    """
    if ri < 0:
        cn = (VKC / log_ratio) ** 2
        factor = 1.0 - 15.0 * ri / (1.0 + 75.0 * cn * math.sqrt(fmax(-ri, 0.0) * ratio))
    else:
        factor = 1.0 / (1.0 + 15.0 * ri * math.sqrt(1.0 + 5.0 * fmax(ri, 0.0)))
    return clip(factor, 0.1, 10.0)


@jit
def canopy_geometry(hvt, z0m):
    """The per-cell heights of :func:`exchange_conductances` from the canopy top hvt and roughness z0m [m].

    Returns (hvt_s canopy height >= 0.1 m, d displacement height, z0 roughness >= Z0_GROUND,
    zref forcing height [m], log_veg = ln((zref - d)/z0), exp(log_veg), ln((hvt_s - d)/z0)
    floored at ln(1.01)).
    """
    hvt_s = fmax(hvt, 0.1)
    d = 0.65 * hvt_s
    z0 = fmax(z0m, Z0_GROUND)
    zref = hvt_s + FORCING_HEIGHT
    log_veg = math.log((zref - d) / z0)
    return hvt_s, d, z0, zref, log_veg, math.exp(log_veg), math.log(fmax((hvt_s - d) / z0, 1.01))


@jit
def exchange_conductances(wind, tair, t_surface_prev, vai_e, cwpvt, dleaf, geometry):
    """Aerodynamic conductances [m s-1]: above the canopy, canopy-air to ground, leaf boundary layer, bare ground.

    wind [m s-1], tair and the previous surface temperature [K], VAI of the vegetated part
    [m2 m-2], CWPVT [-], leaf dimension dleaf [m], the cell's :func:`canopy_geometry`.
    Returns (c_air_veg, c_ground_veg, rb, c_air_bare) with rb the bulk leaf boundary-layer
    resistance [s m-1] of Noah-MP's RAGRB.
    """
    hvt_s, d, z0, zref, log_veg, ratio_veg, log_top = geometry
    u = fmax(wind, MIN_WIND)
    ri = GRAV * (zref - d) * (tair - t_surface_prev) / (tair * u * u)
    c_air_veg = (VKC / log_veg) ** 2 * louis_heat_factor(ri, log_veg, ratio_veg) * u
    ustar = VKC * u / log_veg
    u_top = fmax(ustar / VKC * log_top, 0.1)
    cwpc = math.sqrt(fmax(cwpvt * vai_e * hvt_s, 1e-6))
    kh = fmax(VKC * ustar * (hvt_s - d), 1e-6)
    ra_ground = hvt_s * math.exp(cwpc) / cwpc * (math.exp(-cwpc * Z0_GROUND / hvt_s)
                                                 - math.exp(-cwpc * (z0 + d) / hvt_s)) / kh
    rb = fmax(cwpc * 50.0 / (1.0 - math.exp(-cwpc / 2.0)) * math.sqrt(dleaf / u_top), 100.0)
    ri_b = GRAV * FORCING_HEIGHT * (tair - t_surface_prev) / (tair * u * u)
    c_air_bare = (VKC / _LOG_BARE) ** 2 * louis_heat_factor(ri_b, _LOG_BARE, _RATIO_BARE) * u
    return c_air_veg, 1.0 / fmax(ra_ground, 1e-3), rb, c_air_bare


@numba.njit(cache=True, error_model="numpy")
def canopy_geometry_cells(hvt, z0m, out):
    """:func:`canopy_geometry` of every cell into ``out`` (7, n_cells)."""
    for c in range(hvt.size):
        g = canopy_geometry(hvt[c], z0m[c])
        for i in range(7):
            out[i, c] = g[i]


@jit
def coefficients(fv, rc, ca, ch, cgs, cb, cev, ctr, cgw, cbw, gam_v, gam_g, hs, ta, ea, ev, eg, ldn, k_ground,
                 t_soil1, sw_canopy, sw_ground):
    """The parts of :func:`balance` that do not depend on the temperatures (computed once per column).

    fv vegetated fraction; rc = rho c_p [J m-3 K-1]; conductances [m s-1]: ca air-canopy air,
    ch leaf (heat), cgs ground-canopy air, cb bare ground-air, cev / ctr leaf evaporation /
    transpiration, cgw / cbw vegetated / bare ground vapour; gam_v, gam_g psychrometric
    constants [Pa K-1]; hs relative humidity of the soil surface air; ta [K], ea [Pa] air;
    ev, eg canopy and ground emissivities; ldn longwave down [W m-2]; k_ground [W m-2 K-1]
    and t_soil1 [K] the ground heat flux; sw_canopy, sw_ground absorbed shortwave [W m-2].
    """
    a = ca + ch + cgs
    cvap = cev + ctr
    b = ca + cvap + cgw
    dtah_v, dtah_g = ch / a, cgs / a
    k_hv = fv * rc * ch
    k_lv = fv * rc / gam_v
    k_hgv = fv * rc * cgs
    k_lgv = fv * rc / gam_g * cgw
    k_hgb = (1.0 - fv) * rc * cb
    k_lgb = (1.0 - fv) * rc / gam_g * cbw
    pin = 0.0 if fv > 0 else 1.0          # a bare column has no canopy: T_v is pinned to the air temperature
    return (fv, eg, ta, ea, hs, ldn, k_ground, t_soil1, sw_canopy, sw_ground, ca * ta, ch, cgs, a, ca * ea, cvap,
            cgw * hs, b, k_hv, k_lv * cev, k_lv * ctr, k_hgv, k_lgv, k_hgb, k_lgb,
            -ev * (1.0 + (1.0 - ev) * (1.0 - eg)) * ldn, ev * eg, (2.0 - ev * (1.0 - eg)) * ev,
            eg * (1.0 - ev) * ldn, eg * ev, (1.0 - fv) * eg,
            k_hv * (1.0 - dtah_v), -fv * rc * ch * dtah_g, k_lv * cvap, -fv * rc / gam_v * cvap,
            fv * (2.0 - ev * (1.0 - eg)) * ev, -fv * ev * eg, -fv * rc * cgs * dtah_v,
            k_hgv * (1.0 - dtah_g) + k_hgb, -fv * rc / gam_g * cgw, k_lgb * hs, -fv * eg * ev, fv * eg, pin)


@jit
def balance(f, tv, tg):
    """Residuals of the canopy and ground balances [W m-2] at (tv, tg) [K], their Jacobian and the fluxes.

    ``f`` holds the :func:`coefficients` of the column.  Residual = energy gained; the
    Jacobian entries are d(residual)/dT (so Newton solves J dT = -F).  Returns (res_v,
    res_g, jvv, jvg, jgv, jgg, tah, eah, h_canopy, h_ground, le_evap, le_transp, le_ground,
    lw_net_up, g) [W m-2, W m-2 K-1, K, Pa].
    """
    (fv, eg, ta, ea, hs, ldn, k_ground, t_soil1, sw_canopy, sw_ground, ca_ta, ch, cgs, a, ca_ea, cvap, cgw_hs, b,
     k_hv, k_lev, k_ltr, k_hgv, k_lgv, k_hgb, k_lgb, irc0, irc_g, irc_v, irg0, irg_v, irg_bare,
     dhv_v, dhv_g, k_dlev, k_dlev_g, k_dirc_v, k_dirc_g, dhg_v, dhg_g, k_dleg_v, k_dleg_bare, k_dirg_v, k_dirg_g,
     pin) = f
    es_v, s_v = esat_and_slope(tv)
    es_g, s_g = esat_and_slope(tg)
    # canopy-air node (vegetated part)
    tah = (ca_ta + ch * tv + cgs * tg) / a
    eah = (ca_ea + cvap * es_v + cgw_hs * es_g) / b
    # sensible and latent heat [W m-2 of grid]
    h_v = k_hv * (tv - tah)
    le_evap = k_lev * (es_v - eah)
    le_tran = k_ltr * (es_v - eah)
    h_gv = k_hgv * (tg - tah)
    le_gv = k_lgv * (hs * es_g - eah)
    h_gb = k_hgb * (tg - ta)
    le_gb = k_lgb * (hs * es_g - ea)
    # longwave (positive upward, Noah-MP VEGE_FLUX / BARE_FLUX)
    sv4, sg4 = SB * tv ** 4, SB * tg ** 4
    ir_c = fv * (irc0 - irc_g * sg4 + irc_v * sv4)
    ir_g = fv * (eg * sg4 - irg0 - irg_v * sv4) + irg_bare * (sg4 - ldn)
    g = k_ground * (tg - t_soil1)
    res_v = sw_canopy - ir_c - h_v - le_evap - le_tran
    res_g = sw_ground - ir_g - h_gv - h_gb - le_gv - le_gb - g
    # derivatives of the fluxes
    d4v, d4g = 4.0 * SB * tv ** 3, 4.0 * SB * tg ** 3
    deah_v, deah_g = cvap * s_v / b, cgw_hs * s_g / b
    dlev_v = k_dlev * (s_v - deah_v)
    dlev_g = k_dlev_g * deah_g
    dirc_v = k_dirc_v * d4v
    dirc_g = k_dirc_g * d4g
    dleg_v = k_dleg_v * deah_v
    dleg_g = k_lgv * (hs * s_g - deah_g) + k_dleg_bare * s_g
    dirg_v = k_dirg_v * d4v
    dirg_g = k_dirg_g * d4g + irg_bare * d4g
    res_v = res_v - pin * (tv - ta)
    jvv = -(dirc_v + dhv_v + dlev_v) - pin
    jvg = -(dirc_g + dhv_g + dlev_g)
    jgv = -(dirg_v + dhg_v + dleg_v)
    jgg = -(dirg_g + dhg_g + dleg_g + k_ground)
    return (res_v, res_g, jvv, jvg, jgv, jgg, tah, eah, h_v, h_gv + h_gb, le_evap, le_tran, le_gv + le_gb,
            ir_c + ir_g, g)


@jit
def solve(f, tv, tg, snow_clamp):
    """Newton solution of the canopy and ground balances from (tv, tg) [K]: returns (tv, tg, balance at them).

    ``f``: the column's :func:`coefficients`.  With ``snow_clamp`` the ground stays at the
    freezing point (its residual is left to melt snow).
    """
    for _ in range(NEWTON_ITERATIONS):
        r = balance(f, tv, tg)
        res_v, res_g, jvv, jvg, jgv, jgg = r[0], r[1], r[2], r[3], r[4], r[5]
        if snow_clamp:
            jgv = 0.0
            jgg = 1.0
            res_g = 0.0
        det = jvv * jgg - jvg * jgv
        dtv = (-res_v * jgg + jvg * res_g) / det
        dtg = (-res_g * jvv + jgv * res_v) / det
        tv = tv + clip(dtv, -20.0, 20.0)
        tg = tg + clip(dtg, -20.0, 20.0)
        if snow_clamp:
            tg = TFRZ
    return tv, tg, balance(f, tv, tg)


@jit
def surface_energy(tair, qair, psurf, lwdown, sw_canopy, sw_ground, tv0, tg0, t_soil1, snow,
                   fveg, vai_e, emis_veg, c_leaf, c_evap, c_transp, emis_ground, h_surf, r_surf, k_ground, fsno,
                   c_air_veg, c_ground_veg, c_air_bare):
    """Solve the surface energy balance of one column.

    Args:
        tair [K], qair [kg kg-1], psurf [Pa], lwdown [W m-2]: forcing.
        sw_canopy, sw_ground: absorbed shortwave [W m-2].
        tv0, tg0: canopy and ground temperatures of the previous step [K]; t_soil1: layer 1 [K];
        snow: snow on the ground (bool).
        fveg, vai_e, emis_veg; c_leaf, c_evap, c_transp [m s-1]: the canopy.
        emis_ground, h_surf (relative humidity of the surface air), r_surf [s m-1],
        k_ground [W m-2 K-1], fsno: the ground.
        c_air_veg, c_ground_veg, c_air_bare [m s-1]: aerodynamic conductances.
    Returns (tv, tg, h (sensible), le_evap (canopy evaporation), le_transp, le_ground,
    g (ground heat into the soil, residual-closed), melt_energy (>= 0, energy available to
    melt snow), lw_net_up, canopy_residual, tah, eah, lat_v, lat_g) [K, W m-2, Pa, J kg-1].
    """
    ta, p, q = tair, psurf, qair
    ea = q * p / (0.622 + 0.378 * q)
    rho = (p - 0.378 * ea) / (RAIR * ta)
    lat_v = HVAP if tv0 > TFRZ else HSUB
    lat_g = fsno * HSUB + (1.0 - fsno) * (HVAP if tg0 > TFRZ else HSUB)
    f = coefficients(fveg, rho * CPAIR, c_air_veg, c_leaf, c_ground_veg, c_air_bare, c_evap, c_transp,
                     1.0 / (1.0 / c_ground_veg + r_surf), 1.0 / (1.0 / c_air_bare + r_surf),
                     CPAIR * p / (0.622 * lat_v), CPAIR * p / (0.622 * lat_g), h_surf, ta, ea, emis_veg, emis_ground,
                     lwdown, k_ground, t_soil1, sw_canopy, sw_ground)
    tv, tg, r = solve(f, tv0, tg0, False)
    clamp = snow and tg > TFRZ
    if clamp:
        tv, tg, r = solve(f, tv, TFRZ, True)
    res_g = r[1]
    # close the ground balance: over clamped snow the residual melts snow, elsewhere it enters the soil
    if clamp:
        melt_energy = fmax(res_g, 0.0)
        g = r[14] + fmin(res_g, 0.0)
    else:
        melt_energy = 0.0
        g = r[14] + res_g
    return (tv, tg, r[8] + r[9], r[8], r[10], r[11], r[12], g, melt_energy, r[13], r[0], r[6], r[7], lat_v, lat_g)
