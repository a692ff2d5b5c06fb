"""What the job scripts share: the start of every job (`runtime`: log, threads, timing),
device and seeds, atomic writes and verified reads, provenance, the checkpoint and
adversarial-set formats, the training loops, and the evaluation of a defended model."""
