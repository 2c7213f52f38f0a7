"""Satellite observations: readers and writers of SMAP, CGLS LAI and AMSR2 VOD files, mapped to model cells."""
