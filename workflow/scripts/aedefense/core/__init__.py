"""The computations, knowing nothing of files or the workflow: the models and the defended
stack, the training objectives, the attacks inside the L-infinity box (their torch-free
specifications in `attack_specs`), and defences of a user's own (contract check, BPDA)."""
