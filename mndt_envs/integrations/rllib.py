"""Ray RLlib integration: every env registered with one call, masks applied, cost in the metrics.

``pip install "mndt-envs[rllib]"`` (``ray[rllib]``; RLlib pins its own Gymnasium version, which
the suite supports). Then::

    from mndt_envs.integrations.rllib import ppo_config, register_all

    register_all()                                  # every Gymnasium id and parallel name
    config = ppo_config("cell_sleep_v0", env_config={"scenario": "toy"})
    algo = config.build_algo()
    result = algo.train()                           # result["env_runners"]["mndt/cost"] ...

What :func:`register_all` registers (``ray.tune.register_env``), under the suite's own names:

* each Gymnasium id (``"mndt/CellSleep-v0"`` …) as a single-agent env
  (:func:`make_single_agent`): ``Dict`` observations are flattened except the action mask,
  ``Dict`` actions (resource allocation, ``direct`` mode) become one ``MultiDiscrete``;
* each PettingZoo name (``"cell_sleep_v0"`` …) as an RLlib ``MultiAgentEnv``
  (:class:`MndtMultiAgentEnv`), with ``Dict`` actions flattened per agent.

:func:`ppo_config` builds a ready PPO config: one shared policy per agent kind
(``cell_3`` → ``"cell"``; :func:`agent_kind`), the action-masking RL module
(:class:`MaskedPPOTorchRLModule`) wherever observations carry an ``action_mask`` (cell sleep),
and the :class:`MndtMetricsCallback`, which logs each episode's cost (summed ``info["cost"]``)
and the task's own episode metrics as ``mndt/<name>`` in the env runners' results.

``env_config`` holds the env's kwargs (``scenario``, ``config``) plus ``flat_action``
(``"multidiscrete"``/``"box"``) and ``power_levels`` for the flat-action form.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.core.columns import Columns
from ray.rllib.env.multi_agent_env import MultiAgentEnv
from ray.tune.registry import register_env

from ..registration import TASKS, parallel_env
from ..registration import task as task_spec
from ..wrappers.flat_action import FlatAction, FlatActionParallel, needs_flat_action
from .common import COST_SUMMED, agent_kind, env_names, is_multi_agent, step_cost
from .common import scalars as _scalars

__all__ = ["register_all", "make_single_agent", "MndtMultiAgentEnv", "MaskedPPOTorchRLModule",
           "MndtMetricsCallback", "ppo_config", "agent_kind", "is_multi_agent", "env_names", "COST_SUMMED"]

_EPISODE_KEY = "mndt_episode"
_ENV_KEYS = ("flat_action", "power_levels")


def _split(env_config: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    cfg = dict(env_config or {})
    opts = {k: cfg.pop(k) for k in _ENV_KEYS if k in cfg}
    return cfg, opts


class _EpisodeSummary(gym.Wrapper):  # type: ignore[type-arg]
    """Sums ``info["cost"]`` over the episode; the last info gets ``mndt_episode`` (cost + metrics)."""

    def reset(self, **kwargs: Any) -> Any:
        self._cost = 0.0
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> Any:
        obs, r, term, trunc, info = self.env.step(action)
        self._cost += float(np.sum(info.get("cost", 0.0)))
        if term or trunc:
            info = dict(info)
            info[_EPISODE_KEY] = {"cost": self._cost, **_scalars(info.get("episode_metrics"))}
        return obs, r, term, trunc, info


class _FlattenFeatures(gym.ObservationWrapper):  # type: ignore[type-arg]
    """``Dict`` observations as one flat ``float32`` vector, keeping ``action_mask`` beside it.

    ``Dict(observation, action_mask)`` becomes ``Dict(observation=flat, action_mask=mask)``; any
    other ``Dict`` (or a multi-dimensional ``Box``) becomes one flat ``Box``.
    """

    def __init__(self, env: gym.Env) -> None:  # type: ignore[type-arg]
        super().__init__(env)
        sp = env.observation_space
        self._mask = isinstance(sp, spaces.Dict) and "action_mask" in sp.spaces
        self._feat_space: spaces.Space[Any]
        if isinstance(sp, spaces.Dict) and self._mask:
            self._feat_space = spaces.Dict({k: v for k, v in sp.spaces.items() if k != "action_mask"})
            feat = spaces.flatten_space(self._feat_space)
            self.observation_space = spaces.Dict({"observation": feat, "action_mask": sp["action_mask"]})
        else:
            self._feat_space = sp
            self.observation_space = spaces.flatten_space(sp)

    def observation(self, obs: Any) -> Any:
        if self._mask:
            feats = {k: v for k, v in obs.items() if k != "action_mask"}
            return {"observation": np.asarray(spaces.flatten(self._feat_space, feats), dtype=np.float32),
                    "action_mask": obs["action_mask"]}
        return np.asarray(spaces.flatten(self._feat_space, obs), dtype=np.float32)


class _VectorForRLlib(gym.vector.VectorWrapper):
    """A batched vector env (``vector_entry_point``) in the single-agent RLlib form.

    ``observation`` rows are flattened (``(N, n, f)`` → ``(N, n f)``, the mask kept beside them)
    and each sub-env's episode cost is summed; the step that ends an episode gets
    ``info["mndt_episode"]`` for that sub-env (next-step autoreset: the step after it is a reset).
    """

    def __init__(self, env: gym.vector.VectorEnv) -> None:  # type: ignore[type-arg]
        super().__init__(env)
        sp = env.single_observation_space
        if not (isinstance(sp, spaces.Dict) and "observation" in sp.spaces):
            raise TypeError(f"_VectorForRLlib: expected Dict(observation, ...) observations, got {sp}")
        feat = sp["observation"]
        assert isinstance(feat, spaces.Box)
        flat = spaces.Box(feat.low.reshape(-1), feat.high.reshape(-1), dtype=feat.dtype)  # type: ignore[arg-type]
        self.single_observation_space = spaces.Dict({**sp.spaces, "observation": flat})
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, env.num_envs)
        self._cost = np.zeros(env.num_envs)
        self._ended = np.zeros(env.num_envs, dtype=bool)

    def _obs(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {**obs, "observation": obs["observation"].reshape(self.num_envs, -1)}

    def reset(self, **kwargs: Any) -> Any:
        obs, info = self.env.reset(**kwargs)
        self._cost[:] = 0.0
        self._ended[:] = False
        return self._obs(obs), info

    def step(self, actions: Any) -> Any:
        obs, rew, term, trunc, info = self.env.step(actions)
        self._cost = np.where(self._ended, 0.0, self._cost) + np.asarray(info.get("cost", 0.0), dtype=np.float64)
        done = np.asarray(term, bool) | np.asarray(trunc, bool)
        if done.any():
            summary = np.empty(self.num_envs, dtype=object)
            ep = info.get("episode_metrics", {})
            for i in np.flatnonzero(done):
                metrics = {k: v[i] for k, v in ep.items() if not k.startswith("_")}
                summary[i] = {"cost": float(self._cost[i]), **_scalars(metrics)}
            info = {**info, _EPISODE_KEY: summary, f"_{_EPISODE_KEY}": done}
        self._ended = done
        return self._obs(obs), rew, term, trunc, info


def make_single_agent(env_id: str, env_config: dict[str, Any] | None = None) -> Any:
    """A Gymnasium env ready for RLlib: flat observations (mask kept), flat actions, episode summary.

    With ``num_envs`` in ``env_config`` (RLlib adds it under
    ``config.env_runners(gym_env_vectorize_mode="vector_entry_point")``) and an id that has a
    batched vector env, returns that vector env of ``num_envs`` sub-envs instead (same spaces).

    Args:
        env_id: a registered id (``"mndt/CellSleep-v0"``).
        env_config: the env's kwargs (``scenario``, ``config``) plus ``flat_action`` and ``power_levels``.
    """
    import mndt_envs  # noqa: F401  (registers the ids in this process, e.g. on a Ray worker)

    kwargs, opts = _split(env_config)
    num_envs = kwargs.pop("num_envs", None)
    if num_envs is not None:
        spec = gym.spec(env_id)
        if spec.vector_entry_point is None:
            raise ValueError(f"{env_id} has no batched vector env; use RLlib's default gym_env_vectorize_mode")
        venv = gym.make_vec(env_id, num_envs=int(num_envs), vectorization_mode="vector_entry_point", **kwargs)
        if needs_flat_action(venv.single_action_space):
            raise ValueError(f"{env_id}: the batched env's Dict action is not flattened; use the default mode")
        return _VectorForRLlib(venv)
    env: gym.Env = gym.make(env_id, **kwargs)  # type: ignore[type-arg]
    sp = env.observation_space
    flat_needed = isinstance(sp, spaces.Dict) or (isinstance(sp, spaces.Box) and len(sp.shape) > 1)
    if isinstance(sp, spaces.Dict) and set(sp.spaces) == {"observation", "action_mask"}:
        flat_needed = len(sp["observation"].shape or ()) > 1
    if flat_needed:
        env = _FlattenFeatures(env)
    if needs_flat_action(env.action_space):
        env = FlatAction(env, opts.get("flat_action", "multidiscrete"), int(opts.get("power_levels", 5)))
    return _EpisodeSummary(env)


class MndtMultiAgentEnv(MultiAgentEnv):  # type: ignore[misc]
    """A suite's PettingZoo ``ParallelEnv`` as an RLlib ``MultiAgentEnv`` (no user glue).

    * observations pass unchanged (cell sleep keeps ``Dict(observation, action_mask)`` with the
      ``int8`` mask, which :class:`MaskedPPOTorchRLModule` reads);
    * ``Dict`` actions (resource allocation) become one ``MultiDiscrete`` per agent
      (:class:`~mndt_envs.wrappers.FlatActionParallel`; ``flat_action="box"`` for a ``Box``);
    * ``"__all__"`` ends the episode when every agent is done; the last step's infos carry
      ``mndt_episode``: the episode's cost (``info["cost"]`` summed over steps, and over agents
      for the envs in :data:`COST_SUMMED`) and the task's ``episode_metrics``.

    Args:
        name: the parallel env's name (``"cell_sleep_v0"``).
        env_config: the env's kwargs (``scenario``, ``config``) plus ``flat_action``/``power_levels``.
    """

    def __init__(self, name: str, env_config: dict[str, Any] | None = None) -> None:
        super().__init__()
        kwargs, opts = _split(env_config)
        penv = parallel_env(name, **kwargs)
        if any(needs_flat_action(penv.action_space(a)) for a in penv.possible_agents):
            penv = FlatActionParallel(penv, opts.get("flat_action", "multidiscrete"), int(opts.get("power_levels", 5)))
        self.name = name
        self.par_env = penv
        self.possible_agents = list(penv.possible_agents)
        self.agents = list(self.possible_agents)
        self.observation_spaces = {a: penv.observation_space(a) for a in self.possible_agents}
        self.action_spaces = {a: penv.action_space(a) for a in self.possible_agents}
        self._cost = 0.0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        obs, infos = self.par_env.reset(seed=seed, options=options)
        self.agents = list(self.par_env.agents)
        self._cost = 0.0
        return obs, dict(infos or {})

    def step(self, action_dict: dict[Any, Any]) -> tuple[dict, dict, dict, dict, dict]:  # type: ignore[override]
        obs, rew, term, trunc, infos = self.par_env.step(action_dict)
        self._cost += step_cost(self.name, infos)
        done = bool(term) and all(term.values())
        cut = bool(trunc) and all(trunc.values())
        term = dict(term)
        trunc = dict(trunc)
        term["__all__"] = done
        trunc["__all__"] = cut and not done
        if done or cut:
            metrics = next((i.get("episode_metrics") for i in infos.values() if "episode_metrics" in i), None)
            summary = {"cost": self._cost, **_scalars(metrics)}
            infos = {a: {**i, _EPISODE_KEY: summary} for a, i in infos.items()}
        self.agents = list(self.par_env.agents)
        return obs, rew, term, trunc, infos

    def render(self) -> Any:
        return self.par_env.render()

    def close(self) -> None:
        self.par_env.close()


def _creator_single(env_id: str) -> Any:
    return lambda cfg: make_single_agent(env_id, dict(cfg or {}))


def _creator_multi(name: str) -> Any:
    return lambda cfg: MndtMultiAgentEnv(name, dict(cfg or {}))


def register_all() -> list[str]:
    """Register every env with RLlib (``ray.tune.register_env``); returns the registered names.

    Gymnasium ids register as single-agent envs (:func:`make_single_agent`), PettingZoo names as
    multi-agent envs (:class:`MndtMultiAgentEnv`). Idempotent.
    """
    for t in TASKS:
        register_env(t.env_id, _creator_single(t.env_id))
        register_env(t.parallel_name, _creator_multi(t.parallel_name))
    return env_names()


class MaskedPPOTorchRLModule(DefaultPPOTorchRLModule):  # type: ignore[misc]
    """PPO's default torch module behind an action mask read from the observation.

    Observations are ``Dict(observation=features, action_mask=mask)`` (the suite's form; the mask
    may be ``int8``). The encoder sees ``"observation"`` only; illegal actions get logits of
    ``-1e9`` (flat mask over the concatenated logits, so ``Discrete`` and ``MultiDiscrete`` both
    work). The batch is never modified in place.
    """

    def __init__(self, *, observation_space: spaces.Space[Any] | None = None, **kwargs: Any) -> None:
        if not (isinstance(observation_space, spaces.Dict) and {"observation", "action_mask"} <= set(
                observation_space.spaces)):
            raise ValueError("MaskedPPOTorchRLModule needs a Dict observation space with keys 'observation' and "
                             f"'action_mask', got {observation_space}")
        self._obs_with_mask = observation_space
        super().__init__(observation_space=observation_space["observation"], **kwargs)

    def setup(self) -> None:
        super().setup()
        self.observation_space = self._obs_with_mask

    @staticmethod
    def _split_obs(batch: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        obs = batch[Columns.OBS]
        inner = dict(batch)
        inner[Columns.OBS] = obs["observation"].float()
        return obs["action_mask"], inner

    @staticmethod
    def _masked(out: dict[str, Any], mask: Any) -> dict[str, Any]:
        import torch

        logits = out[Columns.ACTION_DIST_INPUTS]
        penalty = (1.0 - mask.to(logits.dtype).reshape(logits.shape)) * -1e9
        out[Columns.ACTION_DIST_INPUTS] = logits + penalty
        assert isinstance(out[Columns.ACTION_DIST_INPUTS], torch.Tensor)
        return out

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        mask, inner = self._split_obs(batch)
        return self._masked(super()._forward(inner, **kwargs), mask)

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        mask, inner = self._split_obs(batch)
        return self._masked(super()._forward_train(inner, **kwargs), mask)

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> Any:
        if isinstance(batch[Columns.OBS], dict):
            _, batch = self._split_obs(batch)
        return super().compute_values(batch, embeddings)


class MndtMetricsCallback(RLlibCallback):  # type: ignore[misc]
    """Logs each finished episode's cost and task metrics as ``mndt/<name>`` (window-averaged)."""

    def on_episode_end(self, *, episode: Any, metrics_logger: Any = None, **kwargs: Any) -> None:
        if metrics_logger is None:
            return
        last = episode.get_infos(-1)
        summary = None
        if isinstance(last, dict) and _EPISODE_KEY in last:
            summary = last[_EPISODE_KEY]
        elif isinstance(last, dict):
            summary = next((i[_EPISODE_KEY] for i in last.values() if isinstance(i, dict) and _EPISODE_KEY in i), None)
        if not summary:
            return
        for k, v in summary.items():
            metrics_logger.log_value(f"mndt/{k}", float(v), reduce="mean", window=20)


def _obs_space_of(name: str, env_config: dict[str, Any] | None) -> tuple[dict[str, spaces.Space[Any]], int]:
    """Per-kind observation spaces (multi-agent) or ``{"default_policy": space}``; and the number of agents."""
    if is_multi_agent(name):
        env = MndtMultiAgentEnv(name, env_config)
        out = {agent_kind(str(a)): env.par_env.observation_space(a) for a in env.possible_agents}
        env.close()
        return out, len(env.possible_agents)
    e = make_single_agent(name, env_config)
    sp = e.observation_space
    e.close()
    return {"default_policy": sp}, 1


def ppo_config(name: str, env_config: dict[str, Any] | None = None, *, num_env_runners: int = 0,
               num_envs_per_env_runner: int = 1, train_batch_size: int = 4000, minibatch_size: int = 256,
               num_epochs: int = 5, lr: float = 3e-4, gamma: float = 0.95, hidden: tuple[int, ...] = (64, 64),
               rollout_fragment_length: int | str = "auto", seed: int | None = 0, batched: bool = False) -> Any:
    """A PPO config for one suite env, ready to ``build_algo()`` (registers the envs first).

    Args:
        name: a Gymnasium id (single-agent) or a parallel name (multi-agent, one shared policy per
            agent kind).
        env_config: the env's kwargs (``scenario``, ``config``) plus ``flat_action``/``power_levels``.
        num_env_runners: remote env runners (0: sample in the driver).
        num_envs_per_env_runner: envs stepped together by each runner.
        train_batch_size: agent steps (samples) per training iteration; for a multi-agent env
            RLlib collects ``max(ceil(train_batch_size / n_agents), minibatch_size)`` env steps.
        minibatch_size: SGD minibatch (agent steps, per policy).
        num_epochs: SGD passes per iteration.
        lr: learning rate.
        gamma: discount.
        hidden: MLP hidden sizes (policy and value nets).
        rollout_fragment_length: steps per runner per sample call (``"auto"``: batch / runners).
        seed: the algorithm's seed (``None``: unseeded).
        batched: single-agent ids only: each env runner steps its ``num_envs_per_env_runner`` envs as
            one batched vector env (``vector_entry_point``, one array program) instead of a loop.
    """
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    task_spec(name)  # clear KeyError for unknown names
    register_all()
    env_config = dict(env_config or {})
    obs_spaces, n_agents = _obs_space_of(name, env_config)
    multi = is_multi_agent(name)
    # RLlib checks minibatch_size <= train_batch_size_per_learner (env steps), although for multi-agent
    # batches it cuts minibatches of agent steps per module: collect at least minibatch_size env steps
    env_batch = max(-(-int(train_batch_size) // n_agents), int(minibatch_size)) if multi else int(train_batch_size)
    model_config = {"fcnet_hiddens": list(hidden), "fcnet_activation": "tanh", "vf_share_layers": False}

    def spec(space: spaces.Space[Any]) -> Any:
        masked = isinstance(space, spaces.Dict) and "action_mask" in space.spaces
        return RLModuleSpec(module_class=MaskedPPOTorchRLModule if masked else None, model_config=model_config)

    config = (
        PPOConfig()
        .environment(env=name, env_config=env_config)
        .framework("torch")
        .env_runners(num_env_runners=num_env_runners, num_envs_per_env_runner=num_envs_per_env_runner,
                     rollout_fragment_length=rollout_fragment_length, num_cpus_per_env_runner=1)
        .training(train_batch_size_per_learner=env_batch, minibatch_size=minibatch_size,
                  num_epochs=num_epochs, lr=lr, gamma=gamma, lambda_=0.9, entropy_coeff=0.01)
        .callbacks(MndtMetricsCallback)
        .debugging(seed=seed)
    )
    if batched:
        if multi:
            raise ValueError(f"batched=True: {name} is a multi-agent env; batched vector envs are single-agent ids")
        config = config.env_runners(gym_env_vectorize_mode="vector_entry_point")
    if multi:
        kinds = sorted(obs_spaces)
        config = config.multi_agent(policies=set(kinds), policy_mapping_fn=_policy_mapping)
        config = config.rl_module(rl_module_spec=MultiRLModuleSpec(
            rl_module_specs={k: spec(obs_spaces[k]) for k in kinds}))
    else:
        config = config.rl_module(rl_module_spec=spec(obs_spaces["default_policy"]))
    return config


def _policy_mapping(agent_id: Any, episode: Any = None, **kwargs: Any) -> str:
    return agent_kind(agent_id)
