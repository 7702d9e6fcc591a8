"""Learning agents on stable-baselines3 (and sb3-contrib) with their training scripts."""
