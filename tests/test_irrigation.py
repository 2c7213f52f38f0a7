"""The truth's sprinkler irrigation ([synthetic] irrigation_threshold, mpilda/forcing/irrigation.py).

Expected values are worked out by hand from the scheme's definition (Ozdogan et al. 2010: decided at
06:00 local solar time, the deficit of the top 1 m to field capacity where the availability is below
the threshold, applied at a constant rate over 4 h) and, end to end, from the water balance.
"""

import datetime as dt
import json

import numpy as np
import pytest

from mpilda.forcing.irrigation import Irrigation

DT = 900
SMCREF, SMCWLT = 0.30, 0.10


def scheme(lon, landcover=(12,), threshold=0.5, months=(6, 7, 8)):
    n = len(lon)
    return Irrigation(np.array(lon, float), np.array(landcover * n if len(landcover) == 1 else landcover),
                      np.full(n, SMCREF), np.full(n, SMCWLT), threshold, months, DT)


def one_day(irr, rzsm, day=dt.datetime(2016, 7, 10)):
    """(96, n) irrigation rain [kg m-2 s-1] of each step of a UTC day, root zone held at ``rzsm``."""
    n = irr.rate.size
    rain = []
    for i in range(86400 // DT):
        forcing = {"rainf": np.zeros(n)}
        rain.append(irr.add(forcing, np.asarray(rzsm, float), day + dt.timedelta(seconds=i * DT))["rainf"])
    return np.array(rain)


def test_demand_is_the_deficit_to_field_capacity_below_the_threshold():
    irr = scheme([0.0] * 4, landcover=(12, 14, 12, 5))
    # availabilities 0.25, 0.25, 0.75 (above 0.5: none), 0.25 on forest (not irrigated)
    water = irr.demand(np.array([0.15, 0.15, 0.25, 0.15]))
    assert water == pytest.approx([150.0, 150.0, 0.0, 0.0])          # (0.30 - 0.15) m3 m-3 x 1 m x 1000 kg m-3


def test_schedule_follows_local_solar_time_and_gives_the_whole_demand():
    # lon 0: 06-10 UTC; lon 90: local = UTC + 6 h, 00-04 UTC; lon 7.5: local = UTC + 30 min, 05:30-09:30 UTC
    irr = scheme([0.0, 90.0, 7.5])
    rain = one_day(irr, [0.15, 0.15, 0.15])
    wet = rain > 0
    hours = np.arange(96) * DT / 3600.0
    assert hours[wet[:, 0]].tolist() == pytest.approx(np.arange(6.0, 10.0, 0.25).tolist())
    assert hours[wet[:, 1]].tolist() == pytest.approx(np.arange(0.0, 4.0, 0.25).tolist())
    assert hours[wet[:, 2]].tolist() == pytest.approx(np.arange(5.5, 9.5, 0.25).tolist())
    # 150 mm each, at a constant 150 mm / 4 h
    assert (rain.sum(axis=0) * DT) == pytest.approx([150.0] * 3)
    assert rain[wet[:, 0], 0] == pytest.approx(150.0 / 14400.0)
    assert irr.water == pytest.approx([150.0] * 3)


def test_no_irrigation_outside_the_months_or_above_the_threshold():
    assert not one_day(scheme([0.0]), [0.15], day=dt.datetime(2016, 5, 10)).any()
    assert not one_day(scheme([0.0]), [0.21]).any()                   # availability 0.55 > 0.5
    assert one_day(scheme([0.0], threshold=0.6), [0.21]).sum() * DT == pytest.approx(90.0)


def test_the_day_is_decided_once_at_06_local():
    # the root zone wets after the decision: the day's rate is kept until 10:00
    irr = scheme([0.0])
    day = dt.datetime(2016, 7, 10)
    total = 0.0
    for i in range(96):
        rzsm = 0.15 if i < 25 else 0.29
        total += irr.add({"rainf": np.zeros(1)}, np.array([rzsm]), day + dt.timedelta(seconds=i * DT))["rainf"][0]
    assert total * DT == pytest.approx(150.0)


def test_restart_mid_window_continues_the_same_day():
    day = dt.datetime(2016, 7, 10)
    whole = scheme([0.0, 45.0])
    rain_whole = [whole.add({"rainf": np.zeros(2)}, np.array([0.12, 0.18]), day + dt.timedelta(seconds=i * DT))["rainf"]
                  for i in range(96)]
    first = scheme([0.0, 45.0])
    rain = [first.add({"rainf": np.zeros(2)}, np.array([0.12, 0.18]), day + dt.timedelta(seconds=i * DT))["rainf"]
            for i in range(30)]
    second = scheme([0.0, 45.0])
    second.load(first.arrays())
    rain += [second.add({"rainf": np.zeros(2)}, np.array([0.12, 0.18]), day + dt.timedelta(seconds=i * DT))["rainf"]
             for i in range(30, 96)]
    assert np.array_equal(np.array(rain), np.array(rain_whole))
    assert np.array_equal(second.water, whole.water)


def test_truth_run_gets_the_water_as_precipitation_and_the_open_loop_none(tmp_path):
    """Two truth runs of the test window in July, with and without irrigation: the difference of their
    precipitation is the irrigation water, the balance still closes, and only cropland cells get it."""
    from mpi4py import MPI

    from mpilda.experiment import run

    from .conftest import tiny_twin_config

    comm = MPI.COMM_SELF
    base = dict(start="2015-07-01", end="2015-07-06")
    dry = tiny_twin_config(tmp_path, "truth", "truth", **base)
    wet = tiny_twin_config(tmp_path, "truth", "irrigated", overrides=["synthetic.irrigation_threshold=0.95"], **base)
    run(dry, comm)
    run(wet, comm)
    b0 = json.loads((tmp_path / "truth" / "balance.json").read_text())
    b1 = json.loads((tmp_path / "irrigated" / "balance.json").read_text())
    assert b1["irrigated_cells"] > 0 and b1["irrigation_mm"] > 1.0
    assert b1["precipitation_mm"] - b0["precipitation_mm"] == pytest.approx(b1["irrigation_mm"], rel=1e-9)
    assert abs(b1["residual_mm"]) < 1e-6
    # an ensemble run of the same config (the open loop) gets none
    ol = tiny_twin_config(tmp_path, "OL", "OL", members=2, overrides=["synthetic.irrigation_threshold=0.95"], **base)
    assert "irrigation_mm" not in run(ol, comm)


def test_an_interrupted_irrigated_truth_resumes_bit_identically(tmp_path, monkeypatch):
    """The irrigation's state (the day's rate, the water given) goes into the checkpoints: a truth run
    stopped after its day-2 checkpoint and resumed writes the bytes and the irrigation total of a
    run that was not stopped."""
    import h5py
    from mpi4py import MPI

    from mpilda import experiment
    from mpilda.experiment import run

    from .conftest import tiny_twin_config

    def config(out):
        return tiny_twin_config(tmp_path, "truth", out, start="2015-07-01", end="2015-07-05",
                                overrides=["synthetic.irrigation_threshold=0.95", "output.checkpoint_days=2"])

    whole = run(config("whole"), MPI.COMM_SELF)
    calls = {"n": 0}
    check_space = experiment.check_space

    def stop_on_day_3(*args):
        calls["n"] += 1
        if calls["n"] == 4:                       # before the run, then days 1, 2 (checkpoint), 3
            raise KeyboardInterrupt("stopped")
        return check_space(*args)

    monkeypatch.setattr(experiment, "check_space", stop_on_day_3)
    with pytest.raises(KeyboardInterrupt):
        run(config("stopped"), MPI.COMM_SELF)
    monkeypatch.undo()
    assert (tmp_path / "stopped" / "daily_mean.nc.incomplete").exists()
    resumed = run(config("stopped"), MPI.COMM_SELF, resume=True)
    assert resumed["irrigation_mm"] == whole["irrigation_mm"] > 1.0
    with h5py.File(tmp_path / "whole" / "daily_mean.nc") as a, h5py.File(tmp_path / "stopped" / "daily_mean.nc") as b:
        for name in ("sm1", "rzsm", "precip", "qs"):
            assert a[name][...].tobytes() == b[name][...].tobytes(), name
