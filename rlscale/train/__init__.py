"""Training: single runs, sweeps, checkpoints and collection into run tables."""
