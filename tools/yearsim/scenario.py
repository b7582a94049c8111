# A scenario: a JSON file with the site (PV, load, battery, genset,
# rectifier, grid, tariff), the firmware config it runs (its generator and
# dispatch sections, validated by firmware.config so that defaults fill in
# exactly as on the board) and the baselines' settings. profiles() turns it
# into per-minute arrays for one seeded year.
import copy
import json
import os
import warnings

import numpy as np

from firmware import config

# The clock's seconds since 2000 of 2026-01-01 00:00 UTC (firmware/clock.py).
T0 = 820540800
YEAR_MIN = 365 * 1440

# The board's config around the scenario's generator and dispatch sections:
# the devices a BTS cabinet has (tools/configs/example.json).
_BOARD = {"site_id": "YEARSIM", "buses": {"gw": {"kind": "rtu_tcp", "host": "127.0.0.1",
                                                 "port": 5020}},
          "devices": [{"name": "mppt1", "profile": "epever_tracer", "bus": "gw", "unit": 1},
                      {"name": "meter", "profile": "eastron_sdm630", "bus": "gw", "unit": 2},
                      {"name": "bms1", "profile": "pace_bms", "bus": "gw", "unit": 3},
                      {"name": "genset", "profile": "dse_gencomm", "bus": "gw", "unit": 10}]}


def load(path, overrides=None):
    with open(path) as f:
        sc = json.load(f)
    sc['file'] = os.path.basename(path)
    if overrides:
        sc = merge(sc, overrides)
    return sc


def merge(base, over):
    """Deep merge: `over`'s leaves replace `base`'s (used for variants such
    as start 20 / stop 80 without another file)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def firmware_config(sc):
    """The validated config the firmware runs: its generator and dispatch
    sections from the scenario, the site's position when the scenario
    gives it (the PV forecast: firmware/pv_forecast.py), every other key
    the firmware's default."""
    raw = copy.deepcopy(_BOARD)
    fw = sc.get('firmware', {})
    raw['generator'] = dict(fw.get('generator', {}))
    raw['dispatch'] = dict(fw.get('dispatch', {}))
    for k in ('latitude', 'longitude', 'utc_offset_min'):
        if k in fw:
            raw[k] = fw[k]
    return config.validate(raw)


def _clear_sky_pv(site, minutes, rng):
    """PV DC power (kW) per minute: pvlib's Ineichen clear sky on a plane
    tilted at the latitude facing the equator, scaled by the array's derate
    and a seeded daily clearness factor."""
    import pandas as pd
    import pvlib
    pv = site['pv']
    loc = pvlib.location.Location(site['lat'], site['lon'], altitude=site.get('altitude', 0))
    times = pd.date_range('2026-01-01 00:00', periods=minutes, freq='1min', tz='UTC')
    with warnings.catch_warnings():     # pvlib's own use of pandas names pandas deprecates
        warnings.simplefilter('ignore', FutureWarning)
        warnings.simplefilter('ignore', DeprecationWarning)
        cs = loc.get_clearsky(times, model='ineichen')
        sol = loc.get_solarposition(times)
    tilt = pv.get('tilt', abs(site['lat']))
    az = 180 if site['lat'] >= 0 else 0
    poa = pvlib.irradiance.get_total_irradiance(tilt, az, sol['apparent_zenith'],
                                                sol['azimuth'], cs['dni'], cs['ghi'],
                                                cs['dhi'])['poa_global'].fillna(0).to_numpy()
    days = (minutes + 1439) // 1440
    a, b = pv.get('clearness_beta', [5.0, 1.8])
    k = np.clip(rng.beta(a, b, size=days), 0.05, 1.0)
    kmin = np.repeat(k, 1440)[:minutes]
    return np.maximum(poa, 0) / 1000.0 * pv['kwp'] * pv.get('derate', 0.8) * kmin, k


def _load(site, minutes):
    """The DC load (kW) per minute: the mean scaled by a daily shape given
    as 24 hourly factors (linearly interpolated), weekday/weekend optional."""
    ld = site['load']
    shape = np.array(ld.get('shape', [1.0] * 24), dtype=float)
    shape = shape / shape.mean()
    m = np.arange(minutes)
    h = (m % 1440) / 60.0
    f = np.interp(h, np.arange(25), np.append(shape, shape[0]))
    kw = ld['mean_kw'] * f
    if 'weekend_factor' in ld:
        dow = (m // 1440 + 3) % 7       # 2026-01-01 is a Thursday: 5, 6 = Sat, Sun
        kw = np.where(dow >= 5, kw * ld['weekend_factor'], kw)
    return kw


def _grid(site, minutes, rng):
    """Grid up (bool) per minute: absent, always up, or daily outages of a
    seeded start and length."""
    g = site.get('grid')
    if g is None:
        return np.zeros(minutes, dtype=bool)
    up = np.ones(minutes, dtype=bool)
    o = g.get('outages')
    if o:
        days = (minutes + 1439) // 1440
        for d in range(days):
            for _ in range(rng.poisson(o['per_day'])):
                start = d * 1440 + int(rng.integers(0, 1440))
                length = int(rng.exponential(o['mean_min'])) + 1
                up[start:start + length] = False
    return up


def _price(site, minutes, utc_offset_min):
    """Grid price per kWh per minute from the tariff's windows (local time)."""
    t = site.get('tariff')
    price = np.zeros(minutes)
    if not t:
        return price
    local = (np.arange(minutes) + utc_offset_min) % 1440
    price[:] = t['base']
    for w in t.get('windows', []):
        a = config.hhmm(w['from'], 'tariff')
        b = config.hhmm(w['to'], 'tariff')
        inside = (local >= a) & (local < b) if a < b else (local >= a) | (local < b)
        price[inside] = w['price']
    return price


def profiles(sc, minutes=YEAR_MIN, seed=None):
    """The scenario's year as per-minute numpy arrays, from one seed."""
    seed = sc.get('seed', 1) if seed is None else seed
    rng = np.random.default_rng(seed)
    site = sc['site']
    off = sc.get('utc_offset_min', 0)
    pv, clearness = _clear_sky_pv(site, minutes, rng) if site.get('pv') \
        else (np.zeros(minutes), np.zeros(0))
    return {'pv_kw': pv, 'load_kw': _load(site, minutes), 'grid_up': _grid(site, minutes, rng),
            'price': _price(site, minutes, off), 'clearness': clearness, 'seed': seed,
            'minutes': minutes}
