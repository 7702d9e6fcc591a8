"""Non-learning baselines with the stable-baselines3 ``predict`` interface."""
