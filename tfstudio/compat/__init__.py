"""Proving models on real LiteRT runtime releases: venvs per release, proofs, and the matrix."""
