"""What the job scripts share: the start of every job (`runtime`: log, threads, timing),
device and seeds, the checkpoint and adversarial-set formats, the training loops, and the
evaluation of a defended model. Atomic writes and provenance are one floor down, in
aedefense.files."""
