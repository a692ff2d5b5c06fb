"""What a run costs: the work each job records (`work`), the projection of a whole config
from Snakemake's own plan, and the estimate `make paper` prints before it starts."""
