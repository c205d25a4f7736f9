"""Agents, one readable file each (SAC, BRO, PQL)."""
