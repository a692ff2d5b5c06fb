"""The names under which a rule hands its job script the files of several attacks or eps, in
one place: the rule's input function writes them with the *_key functions, the script reads
them back with inputs_by_eps and inputs_by_attack, never by taking a key apart itself.

>>> inputs = {"test": "t.pt", eps_key(SET, 0.1): "a.pt", eps_key(SET, 0.3): "b.pt", eps_key(EVALUATION, 0.1): "c.csv"}
>>> inputs_by_eps(inputs, SET)
{0.1: 'a.pt', 0.3: 'b.pt'}
>>> inputs_by_attack({"test": "t.pt", attack_key("pgd"): "p.pt", attack_key("cw"): "c.pt"})
{'pgd': 'p.pt', 'cw': 'c.pt'}
"""

from __future__ import annotations

from aedefense.plan.cells import format_number

# Per eps of the health check: the health attack's adversarial set and its evaluation, and
# the undefended classifier's set under the transfer attack
SET, EVALUATION, TRANSFER = "set", "evaluation", "transfer"
# The one adversarial set an evaluation or a latent analysis reads
ADVERSARIAL = "adversarial"
# The sanity check's pair of evaluations at one eps: the figure's attack and its longer run
FIGURE_ATTACK, LONGER_ATTACK = "figure_attack", "longer_attack"


def eps_key(kind: str, eps) -> str:
    return f"{kind}_{format_number(float(eps))}"


def attack_key(attack: str) -> str:
    """An evaluation over several attacks' sets (the worst case): each attack's set."""
    return f"{ADVERSARIAL}_{attack}"


def inputs_by_eps(inputs: dict, kind: str) -> dict[float, str]:
    """{eps: path} of the inputs written by eps_key(kind, eps), in input order."""
    prefix = f"{kind}_"
    return {float(key.removeprefix(prefix)): path for key, path in inputs.items() if key.startswith(prefix)}


def inputs_by_attack(inputs: dict) -> dict[str, str]:
    """{attack: path} of the inputs written by attack_key(attack), in input order."""
    prefix = f"{ADVERSARIAL}_"
    return {key.removeprefix(prefix): path for key, path in inputs.items() if key.startswith(prefix)}
