"""Autoencoder defences against Carlini-Wagner attacks: the library behind the workflow."""
