"""Physical constants and fixed settings of the model.

Values are Noah-MP 4.0.1's (module header of module_sf_noahmplsm, as listed in
noahmp-physics.md section 1.4) unless stated otherwise.
"""

import numpy as np

GRAV = 9.80616          # gravity [m s-2]
SB = 5.67e-8            # Stefan-Boltzmann [W m-2 K-4]
VKC = 0.40              # von Karman constant [-]
TFRZ = 273.16           # freezing point [K]
HSUB = 2.8440e6         # latent heat of sublimation [J kg-1]
HVAP = 2.5104e6         # latent heat of vaporisation [J kg-1]
HFUS = 0.3336e6         # latent heat of fusion [J kg-1]
CWAT = 4.188e6          # volumetric heat capacity of water [J m-3 K-1]
CICE = 2.094e6          # volumetric heat capacity of ice [J m-3 K-1]
CPAIR = 1004.64         # specific heat of air [J kg-1 K-1]
TKWAT = 0.6             # thermal conductivity of water [W m-1 K-1]
TKICE = 2.2             # thermal conductivity of ice [W m-1 K-1]
RAIR = 287.04           # gas constant of dry air [J kg-1 K-1]
RW = 461.269            # gas constant of water vapour [J kg-1 K-1]
DENH2O = 1000.0         # density of water [kg m-3]
DENICE = 917.0          # density of ice [kg m-3]
CSOIL = 2.0e6           # volumetric heat capacity of soil solids [J m-3 K-1] (GENPARM CSOIL_DATA)
ZBOT = -8.0             # depth of the lower boundary of soil temperature [m] (GENPARM ZBOT_DATA)

#: The four soil layers of Noah-MP in LIS: thickness [m] (0-10, 10-40, 40-100, 100-200 cm).
DZ = np.array([0.1, 0.3, 0.6, 1.0])
#: Depth of the bottom of each layer [m] (negative down, as Noah-MP's ZSOIL).
ZSOIL = -np.cumsum(DZ)
#: Depth of each layer's mid-point [m] (negative down).
ZMID = ZSOIL + 0.5 * DZ
#: Depth of the root zone used for RZSM [m]: the top three layers (100 cm), SPEC section 2.
RZSM_LAYERS = 3

#: Noah-MP's guard against division by zero and its floor of BTRAN (MPE) [-].
MPE = 1.0e-6
#: Roughness length of bare soil [m] (ENERGY's Z0, also in the snow-cover fraction).
Z0_BARE = 0.002
#: Layer indices of the combined snow + soil column: snow layers 0..2 (2 touches the soil), soil 3..6.
N_SNOW_MAX = 3
N_SOIL = 4
