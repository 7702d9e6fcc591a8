"""Integrations with training libraries (optional extras): RLlib, SuperSuit/SB3, safe RL.

Each submodule imports its library at import time; import the one you use
(``from mndt_envs.integrations import rllib``).
"""
