"""From results to what a reader sees: tidy tables with Wilson intervals, the sanity and
evaluation-health checks, the figures and the reconstruction grids."""
