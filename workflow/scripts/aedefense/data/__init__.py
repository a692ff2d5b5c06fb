"""Datasets: official sources, verified downloads, and preparation to tensors."""
