from __future__ import annotations

import json

import pytest

from mndt_envs.config import PRESETS, ConfigError, ScenarioConfig, config_from_dict, make_config, split_config


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_json(name: str) -> None:
    cfg = PRESETS[name]
    back = config_from_dict(json.loads(cfg.to_json()))
    assert back == cfg


def test_paper_preset_matches_table_i() -> None:
    cfg = PRESETS["paper"]
    assert (cfg.width_m, cfg.height_m) == (2000.0, 2000.0)
    assert cfg.sites.n_sites * cfg.sites.sectors == 39 and cfg.sites.macro_power_dbm == 30.0
    assert cfg.sites.n_small_cells == 145 and cfg.sites.small_power_dbm == 24.0
    assert cfg.users.n_users == 8000
    assert cfg.radio.rb_bandwidth_hz == 180e3 and cfg.radio.noise_psd_dbm_hz == -174.0


def test_toy_preset() -> None:
    cfg = PRESETS["toy"]
    assert cfg.sites.n_sites * cfg.sites.sectors == 21 and cfg.users.n_users == 200
    assert cfg.channel.model == "statistical"


def test_overrides_apply_nested() -> None:
    cfg = make_config("toy", {"users": {"n_users": 7}, "radio": {"n_rb": 10}, "seed": 3})
    assert cfg.users.n_users == 7 and cfg.radio.n_rb == 10 and cfg.seed == 3
    assert cfg.sites == PRESETS["toy"].sites


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"users": {"n_users": 0}}, "users.n_users = 0"),
        ({"radio": {"rb_bandwidth_hz": -1.0}}, "radio.rb_bandwidth_hz"),
        ({"channel": {"cell_size_m": 0.0}}, "channel.cell_size_m = 0.0: allowed values are >= 0.1"),
        ({"channel": {"fading": "nakagami-7"}}, "channel.fading = 'nakagami-7': allowed values are"),
        ({"users": {"speed_min_mps": 5.0, "speed_max_mps": 1.0}}, "users.speed_max_mps"),
        ({"sites": {"layout": "csv"}}, "sites.csv_path"),
        ({"radio": {"n_rb": 2.5}}, "radio.n_rb = 2.5: expected an integer"),
        ({"users": {"bogus": 1}}, "users.bogus: unknown field"),
        ({"nonsense": 1}, "scenario.nonsense: unknown field"),
        ({"width_m": float("nan")}, "scenario.width_m = nan: expected a finite number"),
    ],
)
def test_bad_config_names_field_value_and_range(overrides: dict, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_config("toy", overrides)
    assert fragment in str(err.value)


def test_unknown_preset_lists_allowed() -> None:
    with pytest.raises(ConfigError, match="allowed values are 'toy', 'paper'"):
        make_config("atlantis")


def test_split_config() -> None:
    scen, task = split_config({"users": {"n_users": 3}, "task": {"episode_steps": 5}})
    assert scen == {"users": {"n_users": 3}} and task == {"episode_steps": 5}
    with pytest.raises(ConfigError):
        split_config({"task": 3})


def test_config_is_frozen() -> None:
    cfg = ScenarioConfig()
    with pytest.raises(AttributeError):
        cfg.width_m = 3.0  # type: ignore[misc]


# ---------------------------------------------------------------- issue 15, item 5: every field type-checked


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"channel": {"shadowing": "no"}}, "channel.shadowing = 'no': expected a boolean"),
        ({"channel": {"refraction": "no"}}, "channel.refraction = 'no': expected a boolean"),
        ({"channel": {"diffraction": 0}}, "channel.diffraction = 0: expected a boolean"),
        ({"sites": {"small_indoor": 1}}, "sites.small_indoor = 1: expected a boolean"),
        ({"sites": {"layout": "csv", "csv_path": 5}}, "sites.csv_path = 5: expected a string"),
        ({"channel": {"model": "raytraced", "source": 5}}, "channel.source = 5: expected a string"),
        ({"name": {"a": 1}}, "scenario.name = {'a': 1}: expected a string"),
        ({"traffic": {"weights": 5}}, "traffic.weights = 5: expected a string"),
        ({"radio": {"carrier_ghz": None}}, "radio.carrier_ghz = None: expected a number"),
        ({"radio": {"carrier_ghz": True}}, "radio.carrier_ghz = True: expected a number"),
        ({"users": {"n_users": "200"}}, "users.n_users = '200': expected an integer"),
        ({"seed": 1.0}, "scenario.seed = 1.0: expected an integer"),
        ({"radio": {"rb_bandwidth_hz": 1e-300}}, "radio.rb_bandwidth_hz = 1e-300: allowed values are >= 1000.0"),
        ({"radio": {"rb_bandwidth_hz": 1e12}}, "radio.rb_bandwidth_hz"),
        ({"radio": 3}, "radio: overrides must be a dict"),
    ],
)
def test_every_field_is_type_checked(overrides: dict, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_config("toy", overrides)
    assert fragment in str(err.value)


def test_direct_construction_is_type_checked() -> None:
    from mndt_envs.config import ChannelConfig, RadioConfig

    with pytest.raises(ConfigError, match="channel.shadowing"):
        ChannelConfig(shadowing="no")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="radio = "):
        ScenarioConfig(radio={"n_rb": 3})  # type: ignore[arg-type]
    assert RadioConfig(n_rb=3).n_rb == 3


def test_numbers_are_normalised_so_cache_keys_agree() -> None:
    import numpy as np

    a = make_config("toy", {"width_m": 1000, "users": {"n_users": np.int64(200)}, "radio": {"carrier_ghz": 2}})
    b = make_config("toy", {"width_m": 1000.0, "users": {"n_users": 200}, "radio": {"carrier_ghz": 2.0}})
    assert a.to_json() == b.to_json()
    assert type(a.width_m) is float and type(a.users.n_users) is int


@pytest.mark.parametrize("bad", [[], 0, "", None, 3])
def test_task_overrides_must_be_a_dict(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"config\['task'\]"):
        split_config({"task": bad})


def test_task_fields_are_type_checked() -> None:
    import gymnasium as gym

    import mndt_envs  # noqa: F401

    with pytest.raises(ConfigError, match="task.coverage_threshold_dbm = None: expected a number"):
        gym.make("mndt/LoadBalancing-v0", scenario="toy", config={"task": {"coverage_threshold_dbm": None}})
    with pytest.raises(ConfigError, match="task.episode_steps = '3': expected an integer"):
        gym.make("mndt/CellSleep-v0", scenario="toy", config={"task": {"episode_steps": "3"}})
