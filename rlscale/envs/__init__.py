"""Environments named ``BACKEND:ID`` (gymnasium MuJoCo, dm_control, parallel simulators)."""
