"""The workflow's names for the three things that are neither an autoencoder cell nor an attack
of config.yaml. They appear in file paths, wildcards and the tables' cell and attack columns."""

UNDEFENDED = "none"  # the cell (and family) of the bare classifier: no autoencoder in front
CLEAN = "clean"  # the attack of the eps = 0 evaluation: the attacked images unattacked
WORST = "worst"  # the attack of the per-example worst case over config worst_case_over

# The verdicts of the evaluation-health checks (results/tables/health.csv)
PASS, WARN, FAIL, NOT_APPLICABLE = "pass", "warn", "fail", "not applicable"

# A user defence's `stochastic` when its contract check decides (config defences:)
AUTO = "auto"
