"""The models shipped inside the package, loaded by name.

>>> from mndt_envs import pretrained
>>> pretrained.available()
['ra_ppo_lagrangian', 'traffic_generator', 'traffic_forecaster', 'user_count_lstm']

* ``ra_ppo_lagrangian`` (``ra_ppo_lagrangian.zip``): the SB3 ``PPO`` model of the PPO-Lagrangian
  resource-allocation agent; with ``env=``, a ``PPOLagrangianAgent`` acting on that env (SB3 ``predict``).
* ``traffic_generator`` (``traffic_generator.pt``): the traffic generator of
  :mod:`mndt_envs.twin.traffic.generator` (what ``demand_series`` and ``traffic.model = "lstm"`` use),
  trained on the Milan data (ODbL 1.0, ``MILAN_ATTRIBUTION.txt``).
* ``traffic_forecaster`` (``traffic_forecaster.pt``): the Milan per-cell traffic forecaster
  (10-min slots; ``predict(history)`` with the last ``f.context`` values → the next ``f.horizon``).
* ``user_count_lstm`` (``user_count_lstm.pt``): the per-cell user-count forecaster
  (``predict(history)`` with the last ``f.p`` counts → the next ``f.horizon``).

Each weights file has a ``.json`` beside it naming its training data, slice and command.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["WEIGHTS_DIR", "ShippedModel", "MODELS", "available", "path", "load"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "data" / "weights"


@dataclass(frozen=True)
class ShippedModel:
    """One model file under ``mndt_envs/data/weights``.

    Attributes:
        name: the name :func:`load` takes.
        file: file name in the weights folder.
        description: what the model is and how it was trained.
        aliases: other accepted names.
    """

    name: str
    file: str
    description: str
    aliases: tuple[str, ...] = ()


MODELS: dict[str, ShippedModel] = {m.name: m for m in (
    ShippedModel("ra_ppo_lagrangian", "ra_ppo_lagrangian.zip",
                 "PPO-Lagrangian agent for mndt/ResourceAllocation-v0 (demand mode), scale-free policy trained on "
                 "synthetic toy and mid-size scenarios (`python -m mndt_envs.agents.ppo_lagrangian`)",
                 aliases=("ppo_lagrangian", "resource_allocation")),
    ShippedModel("traffic_generator", "traffic_generator.pt",
                 "traffic generator (weekly FFT + autoregressive LSTM, trained on Milan) behind `demand_series` and "
                 "traffic.model='lstm' (`mndt lstm train-traffic`)", aliases=("traffic",)),
    ShippedModel("traffic_forecaster", "traffic_forecaster.pt",
                 "per-cell traffic forecaster on Milan, 10-min slots (`mndt lstm train-traffic`)",
                 aliases=("forecaster",)),
    ShippedModel("user_count_lstm", "user_count_lstm.pt",
                 "per-cell user-count forecaster (P = 50 -> L = 10 steps of 30 s, KAIST traces)",
                 aliases=("user_count",)),
)}


def available() -> list[str]:
    """Names of the shipped models whose files are present."""
    return [n for n, m in MODELS.items() if (WEIGHTS_DIR / m.file).is_file()]


def _resolve(name: str) -> ShippedModel:
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string, got {type(name).__name__}")
    for m in MODELS.values():
        if name == m.name or name in m.aliases:
            return m
    raise KeyError(f"no shipped model named {name!r}; available: {', '.join(MODELS)}")


def path(name: str) -> Path:
    """The file of the shipped model ``name``.

    Raises:
        KeyError: unknown name (the message lists the known ones).
        FileNotFoundError: the file is missing from this installation.
    """
    m = _resolve(name)
    p = WEIGHTS_DIR / m.file
    if not p.is_file():
        raise FileNotFoundError(f"{p}: the shipped model {m.name!r} is missing from this installation")
    return p


def load(name: str, env: Any = None) -> Any:
    """Load the shipped model ``name`` (see the module docstring for what each returns).

    Args:
        name: a name from :data:`MODELS` (or an alias).
        env: for ``ra_ppo_lagrangian`` only: a ``mndt/ResourceAllocation-v0`` env in demand mode;
            the result is then an agent with SB3's ``predict(obs, deterministic=True)`` on that env.

    Raises:
        KeyError: unknown name.
        ValueError: ``env`` given for a model that does not act on an env.
    """
    m = _resolve(name)
    p = path(m.name)
    if m.name == "ra_ppo_lagrangian":
        from stable_baselines3 import PPO

        model = PPO.load(str(p), device="cpu")
        if env is None:
            return model
        from .agents.ppo_lagrangian import PPOLagrangianAgent

        return PPOLagrangianAgent(env, model)
    if env is not None:
        raise ValueError(f"env= applies only to ra_ppo_lagrangian, not to {m.name!r}")
    if m.name == "traffic_generator":
        from .twin.traffic.generator import LSTMTrafficGenerator

        return LSTMTrafficGenerator.load(p)
    if m.name == "traffic_forecaster":
        from .twin.traffic.forecast import load_traffic_forecaster

        return load_traffic_forecaster(p)
    from .twin.traffic.generator import load_user_count_forecaster

    return load_user_count_forecaster(p)
