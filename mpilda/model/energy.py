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

Scalar numba functions of one column.  A column's balance is described by its
:func:`coefficients` (stored in column ``l`` of an array ``e`` (N_COEF, n)); the
model's kernel runs :func:`balance` and :func:`newton_update` for many columns in
lockstep (NEWTON_ITERATIONS times), restarts the clamped ones over snow
(:func:`snow_clamp`) and closes the ground balance (:func:`close_ground`).
"""

from __future__ import annotations

import math

from .constants import CPAIR, GRAV, HSUB, HVAP, RAIR, SB, TFRZ, VKC
from .jit import clip, fexp, flog, fmax, fmin, jit, kernel
from .photosynthesis import esat_and_slope

#: Height of the forcing above the canopy top [m] (ERA5's 10 m wind; Noah-MP adds the canopy height).
FORCING_HEIGHT = 10.0
#: Roughness length of bare ground and snow [m] (Noah-MP: 0.002 for soil, Z0SNO = 0.002).
Z0_GROUND = 0.002
#: Newton iterations of the coupled canopy/ground balance (quadratic convergence from last step's state).
NEWTON_ITERATIONS = 5
MIN_WIND = 1.0     # |U| floor [m s-1] (Noah-MP ENERGY)
_LOG_BARE = math.log(FORCING_HEIGHT / Z0_GROUND)
_RATIO_BARE = FORCING_HEIGHT / Z0_GROUND
#: The fields of canopy_geometry in a parameter record.
GEOMETRY_FIELDS = ("hvt_s", "disp", "z0", "zref", "log_veg", "ratio_veg", "log_top")
#: Number of coefficients of a column's balance (rows of the coefficient array).
N_COEF = 43


@jit
def louis_heat_factor(ri, log_ratio, ratio):
    """Stability factor of the heat exchange coefficient from the bulk Richardson number (Louis 1979, b = c = d = 5).

    ri [-]; log_ratio = ln(z / z0) of the neutral exchange coefficient (VKC / log_ratio)^2
    and ratio = exp(log_ratio).
    """
    # unstable (ri < 0): 1 - 15 ri / (1 + 75 cn sqrt(max(-ri, 0) ratio)), cn = (VKC / log_ratio)^2;
    # stable: 1 / (1 + 15 ri sqrt(1 + 5 max(ri, 0))) (the branches' operands chosen before the division)
    unstable = ri < 0
    cn = (VKC / log_ratio) ** 2
    root = math.sqrt(fmax(-ri, 0.0) * ratio if unstable else 1.0 + 5.0 * fmax(ri, 0.0))
    quotient = (15.0 * ri if unstable else 1.0) / (1.0 + 75.0 * cn * root if unstable else 1.0 + 15.0 * ri * root)
    return clip(1.0 - quotient if unstable else quotient, 0.1, 10.0)


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
    log_veg = flog((zref - d) / z0)
    return hvt_s, d, z0, zref, log_veg, fexp(log_veg), flog(fmax((hvt_s - d) / z0, 1.01))


@kernel
def canopy_geometry_cells(hvt, z0m, out):
    """:func:`canopy_geometry` of every cell into ``out`` (7, n_cells)."""
    for c in range(hvt.size):
        g = canopy_geometry(hvt[c], z0m[c])
        for i in range(7):
            out[i, c] = g[i]


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
    ra_ground = hvt_s * fexp(cwpc) / cwpc * (fexp(-cwpc * Z0_GROUND / hvt_s) - fexp(-cwpc * (z0 + d) / hvt_s)) / kh
    rb = fmax(cwpc * 50.0 / (1.0 - fexp(-cwpc / 2.0)) * math.sqrt(dleaf / u_top), 100.0)
    ri_b = GRAV * FORCING_HEIGHT * (tair - t_surface_prev) / (tair * u * u)
    c_air_bare = (VKC / _LOG_BARE) ** 2 * louis_heat_factor(ri_b, _LOG_BARE, _RATIO_BARE) * u
    return c_air_veg, 1.0 / fmax(ra_ground, 1e-3), rb, c_air_bare


@jit
def latent_heats(tv, tg, fsno):
    """Latent heats [J kg-1] of the canopy (vaporisation above freezing, else sublimation) and of the ground
    (the snow-covered fraction sublimates), from last step's temperatures tv, tg [K]."""
    lat_v = HVAP if tv > TFRZ else HSUB
    return lat_v, fsno * HSUB + (1.0 - fsno) * (HVAP if tg > TFRZ else HSUB)


@jit
def coefficients(e, l, tair, qair, psurf, lwdown, sw_canopy, sw_ground, t_soil1, lat_v, lat_g,
                 fveg, emis_veg, c_leaf, c_evap, c_transp, emis_ground, h_surf, r_surf, k_ground,
                 c_air_veg, c_ground_veg, c_air_bare):
    """Write the coefficients of a column's canopy and ground balances into e[:, l] (N_COEF values).

    Forcing tair [K], qair [kg kg-1], psurf [Pa], lwdown [W m-2]; absorbed shortwave
    sw_canopy, sw_ground [W m-2]; layer-1 temperature t_soil1 [K]; latent heats lat_v,
    lat_g [J kg-1]; the canopy: fveg, emis_veg, conductances c_leaf, c_evap, c_transp
    [m s-1]; the ground: emis_ground, h_surf (relative humidity of the surface air), r_surf
    [s m-1], k_ground [W m-2 K-1]; aerodynamic conductances c_air_veg, c_ground_veg,
    c_air_bare [m s-1].  Everything of :func:`balance` that does not depend on the temperatures.
    """
    ea = qair * psurf / (0.622 + 0.378 * qair)
    rc = (psurf - 0.378 * ea) / (RAIR * tair) * CPAIR                     # rho c_p [J m-3 K-1]
    fv, ta, hs, ldn, ev, eg = fveg, tair, h_surf, lwdown, emis_veg, emis_ground
    ca, ch, cgs, cb = c_air_veg, c_leaf, c_ground_veg, c_air_bare
    cev, ctr = c_evap, c_transp
    cgw = 1.0 / (1.0 / c_ground_veg + r_surf)                              # ground vapour, vegetated part
    cbw = 1.0 / (1.0 / c_air_bare + r_surf)                                # ground vapour, bare part
    gam_v = CPAIR * psurf / (0.622 * lat_v)                                # psychrometric constants [Pa K-1]
    gam_g = CPAIR * psurf / (0.622 * lat_g)
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
    e[0, l], e[1, l], e[2, l], e[3, l], e[4, l], e[5, l], e[6, l] = fv, eg, ta, ea, hs, ldn, k_ground
    e[7, l], e[8, l], e[9, l], e[10, l] = t_soil1, sw_canopy, sw_ground, ca * ta
    e[11, l], e[12, l], e[13, l] = ch, cgs, a
    e[14, l], e[15, l], e[16, l], e[17, l] = ca * ea, cvap, cgw * hs, b
    e[18, l], e[19, l], e[20, l], e[21, l], e[22, l], e[23, l], e[24, l] = k_hv, k_lv * cev, k_lv * ctr, k_hgv, k_lgv, \
        k_hgb, k_lgb
    # longwave: ir_c = fv (e25 - e26 sg4 + e27 sv4), ir_g = fv (eg sg4 - e28 - e29 sv4) + e30 (sg4 - ldn)
    e[25, l] = -ev * (1.0 + (1.0 - ev) * (1.0 - eg)) * ldn
    e[26, l], e[27, l] = ev * eg, (2.0 - ev * (1.0 - eg)) * ev
    e[28, l], e[29, l], e[30, l] = eg * (1.0 - ev) * ldn, eg * ev, (1.0 - fv) * eg
    # the constant parts of the Jacobian
    e[31, l], e[32, l], e[33, l] = k_hv * (1.0 - dtah_v), -fv * rc * ch * dtah_g, k_lv * cvap
    e[34, l], e[35, l], e[36, l] = -fv * rc / gam_v * cvap, fv * (2.0 - ev * (1.0 - eg)) * ev, -fv * ev * eg
    e[37, l], e[38, l], e[39, l] = -fv * rc * cgs * dtah_v, k_hgv * (1.0 - dtah_g) + k_hgb, -fv * rc / gam_g * cgw
    e[40, l], e[41, l], e[42, l] = k_lgb * hs, -fv * eg * ev, fv * eg


@jit
def balance(e, l, tv, tg):
    """Residuals of the canopy and ground balances [W m-2] at (tv, tg) [K], their Jacobian and the fluxes.

    ``e[:, l]`` holds the column's :func:`coefficients`.  Residual = energy gained; the
    Jacobian entries are d(residual)/dT (so Newton solves J dT = -F).  Returns (res_v,
    res_g, jvv, jvg, jgv, jgg, tah, eah, h_canopy, h_ground, le_evap, le_transp, le_ground,
    lw_net_up, g) [W m-2, W m-2 K-1, K, Pa]; a bare column (fveg = 0) pins T_v to the air.
    """
    fv, eg, ta, ea, hs, ldn, k_ground = e[0, l], e[1, l], e[2, l], e[3, l], e[4, l], e[5, l], e[6, l]
    t_soil1, sw_canopy, sw_ground, ca_ta = e[7, l], e[8, l], e[9, l], e[10, l]
    ch, cgs, a = e[11, l], e[12, l], e[13, l]
    ca_ea, cvap, cgw_hs, b, k_hv, k_lev, k_ltr = e[14, l], e[15, l], e[16, l], e[17, l], e[18, l], e[19, l], e[20, l]
    k_hgv, k_lgv, k_hgb, k_lgb = e[21, l], e[22, l], e[23, l], e[24, l]
    irc0, irc_g, irc_v = e[25, l], e[26, l], e[27, l]
    irg0, irg_v, irg_bare, dhv_v, dhv_g, k_dlev = e[28, l], e[29, l], e[30, l], e[31, l], e[32, l], e[33, l]
    k_dlev_g, k_dirc_v, k_dirc_g, dhg_v, dhg_g = e[34, l], e[35, l], e[36, l], e[37, l], e[38, l]
    k_dleg_v, k_dleg_bare, k_dirg_v, k_dirg_g = e[39, l], e[40, l], e[41, l], e[42, l]
    pin = 0.0 if fv > 0 else 1.0
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
def newton_update(r, tv, tg, snow_clamp):
    """One Newton step of the 2x2 system from :func:`balance` ``r`` at (tv, tg) [K]: the new (tv, tg).

    Steps are limited to 20 K.  With ``snow_clamp`` the ground stays at the freezing point
    (its residual is left to melt snow).
    """
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
    return tv, (TFRZ if snow_clamp else tg)


@jit
def snow_clamp(snow, tg):
    """Whether the ground over snow (``snow``: snow on the ground) came out above freezing: then it is clamped
    to the freezing point and the Newton iterations restart from (tv, TFRZ)."""
    return snow and tg > TFRZ


@jit
def close_ground(res_g, g, clamped):
    """Close the ground balance: (melt_energy, g) [W m-2].

    Over clamped snow the (positive) residual res_g melts snow, elsewhere it enters the
    soil with the conductive flux g.
    """
    if clamped:
        return fmax(res_g, 0.0), g + fmin(res_g, 0.0)
    return 0.0, g + res_g
