"""The task contract: what a task core offers, and what one step of it returns.

Every task of the suite is a *core* (state, dynamics, reward, masks; no Gymnasium or PettingZoo
API) implementing :class:`TaskCore`. The generic adapters (:class:`mndt_envs.envs.base.TaskEnv`,
single agent, and :class:`mndt_envs.parallel.base.TaskParallelEnv`, one agent per element) turn any
core into a ``gymnasium.Env`` and a ``pettingzoo.ParallelEnv``: they own seeding, action-dict
validation, info dicts, "episode over" errors and masks. A core only computes.

Shapes: ``n_agents = len(core.agent_ids)``. A **batched** core (``mndt_envs.batched``) implements
the same contract over ``N`` independent copies of the task: every array gets a leading batch
dimension ``N`` and every scalar of :class:`StepResult` becomes an ``(N,)`` array (``reward_terms``,
``kpis`` and ``episode`` values likewise); ``reset`` and ``step`` then act on all copies at once.

Step order, as the adapters call it::

    info = core.reset(rng)               # start an episode; rng is the env's generator
    obs = core.observation()             # or core.agent_observations()
    res = core.step(action)              # single-agent action   -> StepResult
    res = core.step_agents(actions)      # per-agent actions stacked in agent_ids order -> StepResult

After a :class:`StepResult` with ``terminated or truncated`` the adapters refuse further steps until
the next ``reset``; a core may assume it is never stepped past the end of an episode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["StepResult", "TaskCore", "Feature", "EpisodeOverError", "ActionError"]


class EpisodeOverError(RuntimeError):
    """``step()`` was called after the episode ended (or before the first ``reset()``)."""


class ActionError(ValueError):
    """An action (or a per-agent action dict) is malformed: wrong type, shape, dtype, agents or values."""


@dataclass(frozen=True)
class Feature:
    """One entry of an observation vector, for the generated observation tables.

    Attributes:
        name: short name (``"tod_sin"``).
        unit: unit of the *observed* value (``"1"`` when normalised/dimensionless).
        low: lowest value the observation space allows (a number, or a formula as text, e.g. ``"-p_down/s"``).
        high: highest value the observation space allows (likewise).
        size: how many entries the feature occupies: ``"1"`` or a symbol such as ``"n"`` (one per
            antenna) or ``"M"`` (one per neighbour slot).
        description: one line.
    """

    name: str
    unit: str
    low: float | str
    high: float | str
    size: str = "1"
    description: str = ""


@dataclass
class StepResult:
    """The outcome of one step of a task core (batched cores: every field with a leading ``N``).

    Attributes:
        reward: the (team) reward of the single-agent form.
        agent_rewards: (n_agents,) float64 reward of each agent in ``agent_ids`` order (the
            multi-agent form); for a shared team reward, ``reward`` repeated.
        cost: constraint cost of the step (CMDP; ``info["cost"]``).
        terminated: the episode reached a terminal state.
        truncated: the episode was cut by its time limit.
        reward_terms: the additive terms of ``reward`` (``info["reward_terms"]``).
        kpis: the step's KPIs, reported in the single-agent info (scalars, small dicts or arrays);
            the scalar ones are also copied into every agent's info.
        episode: headline metrics of the whole episode, on the last step only (else ``None``).
        agent_costs: (n_agents,) per-agent cost, where the task splits its cost (else ``None``:
            every agent reports ``cost``).
        agent_kpis: per-agent KPIs, each (n_agents,), reported in the agents' infos only.
    """

    reward: float
    agent_rewards: np.ndarray
    cost: float
    terminated: bool
    truncated: bool
    reward_terms: dict[str, float]
    kpis: dict[str, Any]
    episode: dict[str, float] | None = None
    agent_costs: np.ndarray | None = None
    agent_kpis: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        """The episode ended (terminated or truncated)."""
        return bool(self.terminated or self.truncated)

    def info(self) -> dict[str, Any]:
        """The single-agent ``info`` dict: KPIs, ``cost``, ``reward_terms`` and ``episode_metrics``."""
        out = dict(self.kpis)
        out["cost"] = self.cost
        out["reward_terms"] = dict(self.reward_terms)
        if self.episode is not None:
            out["episode_metrics"] = dict(self.episode)
        return out


@runtime_checkable
class TaskCore(Protocol):
    """What a task core implements (checked structurally; no base class needed).

    Construction: ``Core(scenario, config)`` with ``scenario`` a preset name, dict or
    :class:`~mndt_envs.config.ScenarioConfig` and ``config`` the env's ``config`` kwarg (scenario
    overrides plus a ``"task"`` dict of the task's config fields). Construction validates the
    configuration (``ConfigError`` naming the field) and builds the twin; ``reset`` starts episodes.

    Attributes:
        agent_ids: names of the agents of the multi-agent form, e.g. ``("cell_0", "cell_1", ...)``.
        features: class attribute, the single-agent observation's entries in order (for a dict
            observation, one entry per key); the env docstring's observation table is generated from it.
        agent_features: class attribute, the same for one agent's observation.
    """

    agent_ids: tuple[str, ...]
    features: tuple[Feature, ...]
    agent_features: tuple[Feature, ...]

    def reset(self, rng: np.random.Generator) -> dict[str, Any]:
        """Start an episode drawing everything random from ``rng`` (kept for the episode); the reset info."""
        ...

    def step(self, action: Any) -> StepResult:
        """Validate the single-agent action (:class:`ActionError`, a ``ValueError``) and advance one step."""
        ...

    def step_agents(self, actions: Any) -> StepResult:
        """Advance one step with the agents' actions stacked along a leading agent axis.

        ``actions`` is an array ``(n_agents, *agent action shape)`` in ``agent_ids`` order (for a
        ``Dict`` agent action space, a dict of such arrays). The parallel adapter has checked types,
        shapes and the bounds of discrete spaces (:func:`mndt_envs.tasks.validators.stack_agent_actions`).
        """
        ...

    def validate_action(self, action: Any) -> Any:
        """The single-agent action converted to the core's internal form; ``ActionError`` if malformed."""
        ...

    def observation(self) -> Any:
        """The single-agent observation (an element of ``spaces()[0]``)."""
        ...

    def agent_observations(self) -> Sequence[Any]:
        """One observation per agent, in ``agent_ids`` order (each an element of ``agent_spaces()[0]``)."""
        ...

    def spaces(self) -> tuple[Any, Any]:
        """(observation space, action space) of the single-agent form (``gymnasium.spaces``)."""
        ...

    def agent_spaces(self) -> tuple[Any, Any]:
        """(observation space, action space) of one agent; all agents share them."""
        ...

    def action_mask(self) -> np.ndarray | None:
        """Flattened int8 mask of legal single-agent actions (1 = legal), or ``None`` if unmasked."""
        ...

    def agent_action_masks(self) -> np.ndarray | None:
        """(n_agents, n_actions) int8 masks of legal per-agent actions, or ``None`` if unmasked."""
        ...

    def episode_metrics(self) -> dict[str, float]:
        """Headline KPIs of the episode so far (flat floats)."""
        ...
