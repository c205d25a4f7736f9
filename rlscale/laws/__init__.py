"""Fitting the paper's scaling laws from a run table."""
