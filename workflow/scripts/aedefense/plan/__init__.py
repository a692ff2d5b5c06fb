"""What a config asks for, without torch: the names of cells and attacks, the dataset
registry, the config's validation, which jobs exist (`grid`), and each job's slice of the
config (`params`). The Snakefile reads this layer only."""
