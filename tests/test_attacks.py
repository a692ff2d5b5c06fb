"""The attacks on a small classifier trained on fixture data, against torchattacks where it has one."""

import pytest
import torch
import yaml
from shared_helpers import CW, PGD, NoisyLogits, accuracy_on  # noqa: F401

from aedefense.core import attacks
from aedefense.core.attacks import attack_in_batches, cw_box, margin
from aedefense.core.defences import Defence
from aedefense.core.models import Autoencoder, DefendedModel
from aedefense.jobs.evaluation import accuracy_over_draws
from aedefense.plan import attack_specs
from aedefense.plan.attack_specs import MethodSpec


@pytest.mark.parametrize("attack", ["cw", "pgd"])
def test_perturbation_stays_in_the_box_and_images_in_unit_range(trained, attack):
    model, x, y = trained
    eps = 0.05
    result = attack_in_batches(model, x, y, dict(CW if attack == "cw" else PGD, eps=eps), seed=0)
    delta = result.adversarial - x
    assert float(delta.abs().max()) <= eps + 1e-6
    assert float(result.adversarial.min()) >= 0 and float(result.adversarial.max()) <= 1
    assert torch.allclose(result.linf, delta.flatten(1).abs().amax(1))
    assert torch.allclose(result.l2, delta.flatten(1).norm(dim=1))


def test_attacks_leave_the_weights_untouched(trained):
    model, x, y = trained
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    for settings in (CW, PGD):
        attack_in_batches(model, x, y, dict(settings, eps=0.2), seed=0)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [p.requires_grad for p in model.parameters()] == flags
    after = [p.grad for p in model.parameters()]
    assert all(
        (a is None and b is None) or torch.equal(a, b) for a, b in zip(grads, after)
    )  # no gradient reached the weights


def test_accuracy_falls_as_eps_grows(trained):
    model, x, y = trained
    settings = dict(CW, gamma=20.0, iterations=60)  # strong enough to move this model
    curve = []
    for eps in (0.0, 0.05, 0.15, 0.3):
        result = attack_in_batches(model, x, y, dict(settings, eps=eps), seed=0)
        curve.append(accuracy_on(model, result.adversarial, y))
    assert curve[0] > 0.9
    assert all(a >= b for a, b in zip(curve, curve[1:])), curve
    assert curve[-1] < curve[0] - 0.3, curve


def test_pgd_at_a_large_eps_breaks_the_classifier(trained):
    model, x, y = trained
    result = attack_in_batches(model, x, y, dict(PGD, steps=20, eps=0.5), seed=0)
    assert accuracy_on(model, result.adversarial, y) <= 0.05
    assert float(result.success.float().mean()) >= 0.95


def test_best_iterate_bookkeeping():
    """A linear model where the attack succeeds early and keeps moving: the kept image is the
    successful iterate with the smallest L2, not the last one."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 0]]))
        model[1].bias.copy_(torch.tensor([-0.45, 0.0]))  # misclassified once x0 < 0.45
    x = torch.full((1, 1, 2, 2), 0.5)
    y = torch.tensor([0])
    # with a large gamma the margin term keeps pushing after success: the final iterate has a
    # larger L2 than the first successful one
    result = cw_box(model, x, y, eps=0.5, lr=0.05, iterations=20, gamma=50.0, kappa=None, distance="l2_squared")
    assert bool(result.success[0]) and int(result.success_step[0]) >= 1
    final_l2 = 0.05 * 20  # the x0 pixel moves lr per Adam step (roughly), far past success
    assert float(result.l2[0]) < final_l2 / 2
    with torch.no_grad():
        assert float(margin(model(result.adversarial), y)[0]) < 0  # the kept image succeeds


def test_unsuccessful_attack_keeps_the_final_iterate(trained):
    model, x, y = trained
    result = cw_box(model, x[:8], y[:8], eps=0.001, lr=0.1, iterations=5, gamma=1.0, kappa=0.0, distance="l2_squared")
    assert not bool(result.success.any())
    assert bool((result.success_step == -1).all())
    assert float(result.l2.max()) > 0  # moved, within the tiny box


@pytest.mark.parametrize("distance,kappa", [("l2_squared", 0.0), ("l2", 0.0), ("l2", None), ("l2_squared", None)])
def test_distance_variants_and_kappa(trained, distance, kappa):
    model, x, y = trained
    result = cw_box(model, x, y, eps=0.2, lr=0.1, iterations=40, gamma=5.0, distance=distance, kappa=kappa)
    assert float(result.adversarial.min()) >= 0 and float((result.adversarial - x).abs().max()) <= 0.2 + 1e-6
    assert float(result.success.float().mean()) > 0


def test_cw_loss_terms():
    delta = torch.zeros(2, 1, 2, 2)
    delta[:, 0, 0, 0] = 0.3
    delta[:, 0, 1, 1] = 0.4  # ||delta||_2 = 0.5
    m = torch.tensor([2.0, -1.0])  # the second example is misclassified by a margin of 1
    floor = attacks.cw_loss(delta, m, 3.0, 0.0, "l2_squared")
    assert floor.tolist() == pytest.approx([0.25 + 6.0, 0.25 + 0.0])  # max(-1, -0) = 0
    no_floor = attacks.cw_loss(delta, m, 3.0, None, "l2")
    assert no_floor.tolist() == pytest.approx([0.5 + 6.0, 0.5 - 3.0])
    half = attacks.cw_loss(delta, m, 1.0, 0.5, "l2")
    assert half.tolist() == pytest.approx([0.5 + 2.0, 0.5 - 0.5])


def test_our_cw_without_the_box_succeeds_at_least_as_often_as_torchattacks(trained):
    torchattacks = pytest.importorskip("torchattacks")
    model, x, y = trained
    iterations = 50
    ours = cw_box(model, x, y, eps=1.0, lr=0.01, iterations=iterations, gamma=1.0, kappa=0.0, distance="l2_squared")
    peer = torchattacks.CW(model, c=1.0, kappa=0.0, steps=iterations, lr=0.01)
    adversarial = peer(x, y)
    with torch.no_grad():
        theirs = (model(adversarial).argmax(1) != y).float().mean()
    assert float(ours.success.float().mean()) >= float(theirs)


def test_attacks_are_deterministic(trained):
    model, x, y = trained
    for settings in (CW, PGD):
        first = attack_in_batches(model, x, y, dict(settings, eps=0.1), seed=7)
        second = attack_in_batches(model, x, y, dict(settings, eps=0.1), seed=7)
        assert torch.equal(first.adversarial, second.adversarial)
    other = attack_in_batches(model, x, y, dict(PGD, eps=0.1), seed=8)
    assert not torch.equal(first.adversarial, other.adversarial)  # the random start moved


def test_margin_sign():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    assert margin(logits, torch.tensor([0, 0])).tolist() == [1.0, -3.0]


def test_run_attack_rejects_unknown_methods(trained):
    model, x, y = trained
    with pytest.raises(
        ValueError, match="unknown attack method 'fgsm'; allowed: apgd, cw, deepfool, pgd, square, suite"
    ):
        attacks.run_attack(model, x, y, {"method": "fgsm", "eps": 0.1})


def test_run_attack_names_a_missing_setting_and_where_it_belongs(trained):
    model, x, y = trained
    settings = {k: v for k, v in CW.items() if k not in ("gamma", "kappa")}
    with pytest.raises(ValueError, match=r"'cw' needs the setting\(s\) gamma, kappa: set them under attacks.cwx in"):
        attacks.run_attack(model, x[:2], y[:2], dict(settings, name="cwx", eps=0.1))
    with pytest.raises(ValueError, match="lack eps"):
        attacks.run_attack(model, x[:2], y[:2], CW)


def test_run_attack_passes_the_attack_its_settings_and_no_others(monkeypatch):
    seen = {}

    def fake(model, x, labels, *, eps, steps, overshoot=0.5, generator=None):
        seen.update(eps=eps, steps=steps, overshoot=overshoot, generator=generator)
        return "result"

    spec = MethodSpec("steps")
    monkeypatch.setitem(attack_specs.SPECS, "fake", spec)
    monkeypatch.setitem(attacks.METHODS, "fake", attacks.AttackMethod(fake, spec))
    generator = torch.Generator()
    settings = {"method": "fake", "name": "f", "eps": 0.2, "steps": 3, "batch_size": 8, "images": 10, "seed": 1}
    assert attacks.run_attack(None, None, None, settings, generator) == "result"
    assert seen == {"eps": 0.2, "steps": 3, "overshoot": 0.5, "generator": generator}
    assert attack_specs.work_of(dict(settings, eot_draws=2), 10) == 10 * 4 * 2


def test_work_of_counts_each_methods_steps():
    assert attack_specs.work_of(CW, 10) == 10 * (30 + 1)
    assert attack_specs.work_of(dict(PGD, eot_draws=4), 10) == 10 * (10 + 1) * 4
    assert attack_specs.work_of({"method": "deepfool", "steps": 50, "overshoot": 0.02}, 2) == 2 * 51


def test_an_attack_keeps_its_seed_exactly_where_it_draws():
    for method, entry in attacks.METHODS.items():
        # the spec says it draws where its function takes a generator
        assert entry.spec.random == ("generator" in entry.parameters), method
    assert not attack_specs.uses_seed(CW, False) and attack_specs.uses_seed(dict(CW, eot_draws=2), False)
    assert attack_specs.uses_seed(CW, True)  # the defence samples with the job's seed
    assert attack_specs.uses_seed(PGD, False)
    with pytest.raises(ValueError, match="unknown attack method 'nosuch'; allowed: apgd, cw, deepfool"):
        attack_specs.spec_of({"method": "nosuch"})


def test_the_config_schema_knows_every_attack_method_and_its_settings(repo_root):
    """workflow/schemas/config.schema.yaml's attacks block against attacks.METHODS: each method
    in the enum, and its if/then block with exactly the function's settings (its keyword-only
    parameters but eps and generator), required exactly where the function has no default."""
    schema = yaml.safe_load((repo_root / "workflow" / "schemas" / "config.schema.yaml").read_text())
    block = schema["properties"]["attacks"]["additionalProperties"]
    where = "workflow/schemas/config.schema.yaml, properties.attacks.additionalProperties"
    enum = block["properties"]["method"]["enum"]
    assert sorted(enum) == sorted(attacks.METHODS), (
        f"the methods in {where}.properties.method.enum {sorted(enum)} differ from attacks.METHODS "
        f"{sorted(attacks.METHODS)}: add each method of METHODS to the enum (and a registry entry for each method "
        "of the enum)"
    )
    blocks = {}
    for rule in block["allOf"]:
        blocks[rule["if"]["properties"]["method"]["const"]] = rule["then"]
    job_keys = {"method", "batch_size"}
    for method, entry in attacks.METHODS.items():
        name = entry.attack.__name__
        assert method in blocks, (
            f"{where}.allOf has no `if: {{properties: {{method: {{const: {method}}}}}}}` block: add one whose `then` "
            f"lists {name}'s settings {list(entry.settings)} and batch_size with their types"
        )
        then = blocks[method]
        properties = set(then["properties"]) - job_keys
        assert properties == set(entry.config_settings), (
            f"{where}: method {method}'s `then.properties` {sorted(properties)} (method and batch_size aside) differ "
            f"from {name}'s keyword-only settings {sorted(entry.config_settings)}: add "
            f"{sorted(set(entry.config_settings) - properties)} with their types to the schema, or drop "
            f"{sorted(properties - set(entry.config_settings))} from it"
        )
        required = set(then.get("required", [])) - job_keys
        assert required == set(entry.config_required), (
            f"{where}: method {method}'s `then.required` {sorted(required)} (method and batch_size aside) differ from "
            f"{name}'s settings without a default {sorted(entry.config_required)}: require exactly those in the "
            "schema, or give the function a default for a setting the config may leave out"
        )
        if not entry.spec.written_as:  # a composite counts the steps of the attacks it runs
            assert entry.spec.steps_setting in entry.required, f"SPECS[{method!r}].steps_setting is not required"
        assert "eps" in entry.parameters, f"{name} must take eps as a keyword-only parameter"


def test_expected_margin_averages_the_draws(trained):
    model, x, y = trained
    with torch.no_grad():
        exact = margin(model(x), y)
        assert torch.allclose(attacks.expected_margin(model, x, y, draws=5), exact, atol=1e-5)
        noisy = NoisyLogits(model)
        # the expectation (not the margin of the mean logits: the max over noisy classes is
        # biased upwards), estimated from 400 separate forwards
        reference = torch.stack([margin(noisy(x), y) for _ in range(400)]).mean(0)
        one = attacks.expected_margin(noisy, x, y, draws=1)
        many = attacks.expected_margin(noisy, x, y, draws=400)
    # one draw: the margin's noise has std ~1.5; 400 draws: ~1.5 / 20 per estimate
    assert float((one - reference).abs().mean()) > 0.5
    assert float((many - reference).abs().mean()) < 0.2


@pytest.mark.parametrize("settings", [dict(CW, eot_draws=4), dict(PGD, eot_draws=4)], ids=["cw", "pgd"])
def test_eot_attacks_on_a_sampling_vae_defence_stay_in_the_box_and_repeat(trained, settings):
    model, x, y = trained
    torch.manual_seed(0)
    vae = Autoencoder((1, 28, 28), "vae", channels=8, latent_dim=8).eval()

    def attack():
        generator = torch.Generator().manual_seed(1)
        defended = DefendedModel(model, vae, "sample", 2.0, generator)
        return attack_in_batches(defended, x[:16], y[:16], dict(settings, eps=0.1), seed=0)

    first, second = attack(), attack()
    assert float((first.adversarial - x[:16]).abs().max()) <= 0.1 + 1e-6
    assert torch.equal(first.adversarial, second.adversarial)  # seeded latent draws
    assert first.l2.gt(0).any()


@pytest.mark.parametrize("settings", [CW, PGD, dict(CW, eot_draws=4)], ids=["cw", "pgd", "cw-eot"])
def test_forwards_in_pieces_leave_the_adversarial_sets_as_they_are(trained, settings):
    """config.yaml cpu_forward_batch: a batch (its EOT draws stacked) goes through the model in
    pieces of a few images; every image's set is what the whole batch gives it, on a VAE
    that samples too (its noise drawn piece by piece)."""
    from aedefense.core.models import InPieces

    model, x, y = trained
    torch.manual_seed(0)
    vae = Autoencoder((1, 28, 28), "vae", channels=8, latent_dim=8).eval()
    sets = []
    for pieces in (None, 16):
        defended = DefendedModel(model, vae, "sample", 2.0, torch.Generator().manual_seed(1))
        defended = InPieces(defended, pieces) if pieces else defended
        sets.append(attack_in_batches(defended, x, y, dict(settings, eps=0.1), seed=0).adversarial)
    assert (sets[0] - x).abs().max() > 0.01  # the attack moved the images
    assert torch.equal(sets[0], sets[1]), float((sets[0] - sets[1]).abs().max())


def test_pieces_that_would_change_a_vaes_draws_are_not_taken(trained):
    """A sampling VAE's draws in pieces are the whole batch's only where each piece draws whole
    16-value blocks (latent_dim 10: pieces of 8 do, pieces of 12 do not); a job takes pieces
    only then, and never for a user's defence."""
    from aedefense.core.models import InPieces, in_pieces_on_cpu

    model, x, _ = trained
    torch.manual_seed(0)
    vae = Autoencoder((1, 28, 28), "vae", channels=8, latent_dim=10).eval()

    def logits(pieces):
        defended = DefendedModel(model, vae, "sample", 2.0, torch.Generator().manual_seed(1))
        with torch.no_grad():
            return (InPieces(defended, pieces) if pieces else defended)(x)

    assert torch.allclose(logits(8), logits(None), atol=1e-6)
    assert not torch.allclose(logits(12), logits(None), atol=1e-3)  # other draws: the rule is needed
    cpu = torch.device("cpu")
    sampling = DefendedModel(model, vae, "sample", 2.0)
    assert isinstance(in_pieces_on_cpu(sampling, cpu, 8), InPieces)
    assert in_pieces_on_cpu(sampling, cpu, 12) is sampling
    assert isinstance(in_pieces_on_cpu(DefendedModel(model, vae, "mean"), cpu, 12), InPieces)
    assert in_pieces_on_cpu(sampling, torch.device("meta"), 8) is sampling  # not a CPU: whole
    stacked = torch.nn.Sequential(torch.nn.Identity(), model)  # a user's model: whole
    assert in_pieces_on_cpu(stacked, cpu, 8) is stacked


def test_an_evaluation_in_pieces_counts_the_same_images_correct(trained):
    """The evaluation job on a CPU passes min(batch_size, cpu_forward_batch): on a VAE that
    samples, every draw classifies each image as the whole batch does."""
    from aedefense.jobs.evaluation import correct_over_draws

    model, x, y = trained
    torch.manual_seed(0)
    vae = Autoencoder((1, 28, 28), "vae", channels=8, latent_dim=8).eval()
    defence = Defence(model, {}, vae, {"family": "vae"}, {})
    whole = correct_over_draws(defence, x, y, 2.0, 4, 7, batch_size=len(x))
    pieces = correct_over_draws(defence, x, y, 2.0, 4, 7, batch_size=16)
    assert whole[0] == pieces[0] and torch.equal(whole[1], pieces[1])

    def logits(scale, batch):  # as correct_over_draws draws them
        defended = defence.model(scale, torch.Generator().manual_seed(7)).eval()
        with torch.no_grad():
            return torch.cat([defended(x[start : start + batch]) for start in range(0, len(x), batch)])

    assert torch.allclose(logits(2.0, len(x)), logits(2.0, 16), atol=1e-6)  # the same draws
    assert (logits(2.0, len(x)) - logits(0.0, len(x))).abs().max() > 1e-4  # and they are there


def test_worst_case_counts_an_image_only_if_it_survives_every_attack(trained):
    model, x, y = trained
    sets = [x, attack_in_batches(model, x, y, dict(PGD, steps=5, eps=0.15), seed=0).adversarial]
    with torch.no_grad():
        correct = [model(images).argmax(1) == y for images in sets]
    (worst,) = accuracy_over_draws(Defence(model, None, None, None, {}), sets, y, 0.0, 1, 0)
    assert worst == float((correct[0] & correct[1]).float().mean())
    assert worst <= min(float(c.float().mean()) for c in correct)
    assert worst < float(correct[0].float().mean())  # the attack fooled some clean-correct images


def test_bim_is_pgd_without_a_random_start_as_torchattacks_computes_it(trained):
    import torchattacks

    model, x, y = trained
    settings = {
        "method": "pgd",
        "steps": 10,
        "step_size_factor": 2.5,
        "random_start": False,
        "batch_size": 64,
        "eps": 0.1,
    }
    ours = attack_in_batches(model, x, y, settings, seed=0)
    theirs = torchattacks.BIM(model, eps=0.1, alpha=2.5 * 0.1 / 10, steps=10)(x, y)
    # the same steps; a gradient's sign may flip by rounding on a handful of pixels
    assert float((ours.adversarial - theirs).abs().gt(1e-5).float().mean()) < 0.01
    assert float((ours.adversarial - x).abs().max()) <= 0.1 + 1e-6


def test_deepfool_first_step_is_torchattacks_and_later_steps_cross_the_boundary(trained):
    import torchattacks

    model, x, y = trained
    settings = {"method": "deepfool", "steps": 1, "overshoot": 0.02, "batch_size": 64}
    # one step: the linearised step to the nearest boundary, as torchattacks computes it
    theirs = torchattacks.DeepFool(model, steps=1, overshoot=0.02)(x[:16], y[:16])
    ours = attack_in_batches(model, x[:16], y[:16], dict(settings, eps=1.0), seed=0)  # eps 1: no clipping
    # the same up to the reference code's extra 1e-4 of L2 length, which torchattacks lacks
    same = (ours.adversarial - theirs).flatten(1).norm(dim=1) < 1.1e-4
    assert int(same.sum()) >= 15, same  # one image may part ways at a near-tie of classes
    assert ours.l2.gt(0).all()

    settings["steps"] = 50
    whole_box = attack_in_batches(model, x[:16], y[:16], dict(settings, eps=1.0), seed=0)
    with torch.no_grad():
        predicted = model(whole_box.adversarial).argmax(1)
    assert whole_box.success.all() and predicted.ne(y[:16]).all()  # across the boundary, not on it
    assert (whole_box.success_step >= 1).all()
    # L2-minimal: far smaller than PGD's perturbation, which fills the box
    pgd = attack_in_batches(model, x[:16], y[:16], dict(PGD, eps=0.3), seed=0)
    assert float(whole_box.l2.median()) < float(pgd.l2.median())

    boxed = attack_in_batches(model, x[:16], y[:16], dict(settings, eps=0.05), seed=0)
    assert float((boxed.adversarial - x[:16]).abs().max()) <= 0.05 + 1e-6
    clipped = (x[:16] + (whole_box.adversarial - x[:16]).clamp(-0.05, 0.05)).clamp(0, 1)
    assert torch.allclose(boxed.adversarial, clipped, atol=1e-6)
    with torch.no_grad():
        assert torch.equal(boxed.success, margin(model(boxed.adversarial), y[:16]) < 0)
    assert ((boxed.success_step >= 0) == boxed.success).all()
    assert int(boxed.success.sum()) < 16  # the box undoes some


def test_an_attack_leaves_every_module_in_the_mode_it_found_it():
    classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    wrapper = torch.nn.Sequential(classifier)  # in training mode (as built) around an evaluated classifier
    classifier.eval()
    x, y = torch.rand(8, 1, 2, 2), torch.randint(0, 3, (8,))
    attack_in_batches(wrapper, x, y, dict(PGD, steps=2, eps=0.1), seed=0)
    assert wrapper.training and not classifier.training and not classifier[2].training
    assert all(p.requires_grad for p in wrapper.parameters())


def test_the_folded_classifier_is_the_trained_one_to_float_rounding(trained):
    """config.yaml fast_forward: BatchNorm folded into the convolutions, max-pool before ReLU,
    channels-last memory: the logits within 1e-5 of the classifier as trained, which is left
    unchanged (its weights, their memory layout), and each image's input gradient within 0.01%
    of its norm."""
    from aedefense.core.models import fast_forward_form, folded

    model, x, y = trained
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    fast, _ = fast_forward_form(model, None, "cpu")
    kinds = [type(layer).__name__ for layer in fast.features]
    assert "BatchNorm2d" not in kinds and kinds[:3] == ["Conv2d", "MaxPool2d", "ReLU"]
    assert any("BatchNorm2d" in type(layer).__name__ for layer in model.features)
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())
    assert all(parameter.is_contiguous() for parameter in model.parameters())  # not made channels-last
    assert fast.features[3].weight.is_contiguous(memory_format=torch.channels_last)  # the second conv

    def logits_and_gradient(net):
        inputs = x.clone().requires_grad_(True)
        logits = net(inputs)
        (gradient,) = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, y, reduction="sum"), inputs)
        return logits.detach(), gradient

    (logits, gradient), (fast_logits, fast_gradient) = logits_and_gradient(model), logits_and_gradient(fast)
    assert (logits - fast_logits).abs().max() < 1e-5
    per_image = (gradient - fast_gradient).flatten(1).norm(dim=1) / gradient.flatten(1).norm(dim=1)
    assert per_image.max() < 1e-4
    assert (logits - folded(model.train()).eval()(x)).abs().max() < 1e-5  # folds at eval, whatever its mode
    model.eval()


@pytest.mark.parametrize("eps", [0.05, 0.1])
@pytest.mark.parametrize("settings", [CW, PGD], ids=["cw", "pgd"])
def test_attacks_on_the_folded_classifier_find_the_same_accuracy(trained, settings, eps):
    """The stated tolerance of fast_forward on the fixture: the accuracy on each model's own
    adversarial set within one image of 64, and at most one image in eight whose set moved by
    more than 1e-3 (rounding can keep another iterate of CW, or flip the sign of PGD's step)."""
    model, x, y = trained
    sets, accuracies = [], []
    for fast in (False, True):
        defence = Defence(model, {}, None, None, {})
        defended = (defence.fast_forward("cpu") if fast else defence).model(attack=True)
        adversarial = attack_in_batches(defended, x, y, dict(settings, eps=eps), seed=0).adversarial
        sets.append(adversarial)
        accuracies.append(accuracy_on(defended, adversarial, y))
    assert accuracies[0] < 0.99  # the attack found something to agree on
    assert abs(accuracies[0] - accuracies[1]) <= 1 / len(y) + 1e-9
    moved = (sets[0] - sets[1]).flatten(1).abs().max(1).values > 1e-3
    assert int(moved.sum()) <= len(y) // 8
    assert float((sets[1] - x).abs().max()) <= eps + 1e-6
