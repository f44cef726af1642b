"""Privacy: encryption at rest, pseudonymization, consent, erasure."""
