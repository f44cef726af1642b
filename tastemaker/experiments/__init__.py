"""Experimentation: A/B tests, bandits and off-policy evaluation over placements."""
