"""The autoencoder families the grid trains, one record each: the name cells and configs use,
the label of figures, whether the family is variational, and the settings only it reads.
Torch-free: the plan, the config check (whose enum and cell-name patterns are filled from
here), the figures and the jobs read it. A new family is a record here, its architecture in
aedefense.core.models and its loss in aedefense.jobs.training (docs/extending.md).

>>> family("vae").variational, family("ae").label
(True, 'AE')
>>> family("dae")
Traceback (most recent call last):
...
ValueError: unknown autoencoder family 'dae'; allowed: ae, vae (denoising is a cell setting: ae_d1_...)
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    # in cell names (<name>_d1_stp0.4_a0) and in config.yaml's `families`: a lowercase word
    name: str
    # in figures and tables; the denoising cells are "D" + label, the contractive ones "C" + label
    label: str
    # the encoder gives a posterior (mu, logvar), the loss is an ELBO, and at a latent scale
    # above 0 the defence samples its code: a random defence, attacked with EOT
    variational: bool
    # autoencoder settings only this family reads: left out of the other families' job params,
    # so that changing them reruns only this family's cells
    own_settings: tuple[str, ...] = ()

    def cell_label(self, denoising: bool, contractive: bool = False) -> str:
        """'DVAE', 'CAE', ...: the label of a cell of this family."""
        return ("C" if contractive else "") + ("D" if denoising else "") + self.label


FAMILIES = {
    record.name: record
    for record in (
        Family("ae", "AE", variational=False),
        Family("vae", "VAE", variational=True, own_settings=("vae_likelihood", "variance_floor", "kl_warmup_epochs")),
    )
}
# The family names as one regular expression alternative, for cell-name patterns
FAMILY_REGEX = "(?:" + "|".join(map(re.escape, FAMILIES)) + ")"


def family(name: str) -> Family:
    if name not in FAMILIES:
        raise ValueError(
            f"unknown autoencoder family {name!r}; allowed: {', '.join(FAMILIES)} "
            "(denoising is a cell setting: ae_d1_...)"
        )
    return FAMILIES[name]


def settings_not_read_by(name: str) -> set[str]:
    """The autoencoder settings of other families that a cell of `name` does not read.

    >>> sorted(settings_not_read_by("ae"))
    ['kl_warmup_epochs', 'vae_likelihood', 'variance_floor']
    >>> settings_not_read_by("vae")
    set()
    """
    own = set(family(name).own_settings)
    return {setting for record in FAMILIES.values() for setting in record.own_settings} - own
