"""config.yaml against workflow/schemas/config.schema.yaml: clear errors naming the key."""

import copy
import math
import re
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aedefense.config_check import check_config
from aedefense.plan import grid, params
from aedefense.plan.config import ConfigError


@pytest.fixture
def schema(repo_root):
    return repo_root / "workflow" / "schemas" / "config.schema.yaml"


def errors_of(config, schema):
    with pytest.raises(ConfigError) as caught:
        check_config(config, schema)
    return str(caught.value)


def test_shipped_config_is_valid(base_config, schema):
    check_config(base_config, schema)


@pytest.mark.parametrize("preset", sorted(p.name for p in (Path(__file__).parents[1] / "presets").glob("*.yaml")))
def test_every_preset_laid_over_the_config_is_valid(preset, repo_root, schema):
    """A preset is merged into config.yaml as Snakemake merges --configfile: a key it sets
    must exist, and what it leaves out keeps config.yaml's value."""
    from aedefense.cost.projection import load_config

    config = load_config([repo_root / "presets" / preset])
    check_config(config, schema)
    if preset == "paper-mnist.yaml":
        assert config["attacks"]["cw"]["batch_size"] == 100
        assert config["attacks"]["cwlong"]["iterations"] == 300  # kept from config.yaml
        assert config["data"]["mnist"]["attack_images"] == 1000


def test_unknown_key_is_named_with_the_allowed_ones(base_config, schema):
    base_config["autoencoder"]["epoch"] = 3
    message = errors_of(base_config, schema)
    assert "unknown key 'autoencoder.epoch'" in message
    assert "epochs" in message and "latent_dim" in message


def test_unknown_key_inside_a_dataset_block(base_config, schema):
    base_config["data"]["mnist"]["epsilon"] = [0.1]
    assert "unknown key 'data.mnist.epsilon'" in errors_of(base_config, schema)
    base_config["data"]["mnist"]["autoencoder"] = {"epoch": 3}
    assert "unknown key 'data.mnist.autoencoder.epoch'" in errors_of(base_config, schema)


def test_wrong_type(base_config, schema):
    base_config["autoencoder"]["epochs"] = "ten"
    message = errors_of(base_config, schema)
    assert "autoencoder.epochs: 'ten' is not allowed; allowed: integer >= 1" in message


def test_negative_stp(base_config, schema):
    base_config["figures"]["fig2"]["stp"] = [0.1, -0.2]
    message = errors_of(base_config, schema)
    assert "figures.fig2.stp[1]: -0.2 is not allowed; allowed: number >= 0 and <= 1" in message


@pytest.mark.parametrize("eps", [1.5, -0.05])
def test_eps_outside_unit_interval(base_config, schema, eps):
    base_config["data"]["btsc"]["eps"] = [0.01, eps]
    message = errors_of(base_config, schema)
    assert f"data.btsc.eps[1]: {eps} is not allowed" in message and ">= 0 and <= 1" in message


def test_unknown_dataset(base_config, schema):
    base_config["datasets"] = ["mnist", "cifar10"]
    message = errors_of(base_config, schema)
    assert "datasets[1]: 'cifar10' is not allowed; allowed: 'mnist', 'fashion-mnist', 'btsc'" in message


def test_unknown_family(base_config, schema):
    base_config["figures"]["fig4"]["families"] = ["ae", "cae"]
    message = errors_of(base_config, schema)
    assert "figures.fig4.families[1]: 'cae' is not allowed; allowed: 'ae', 'vae'" in message


def test_attack_settings_are_checked_per_method(base_config, schema):
    base_config["attacks"]["cw"]["distance"] = "linf"
    base_config["attacks"]["pgd"]["iterations"] = 10
    message = errors_of(base_config, schema)
    assert "attacks.cw.distance: 'linf' is not allowed; allowed: 'l2_squared', 'l2'" in message
    assert "unknown key 'attacks.pgd.iterations'" in message


def test_kappa_may_be_null(base_config, schema):
    base_config["attacks"]["cw"]["kappa"] = None
    check_config(base_config, schema)


def test_every_problem_is_listed_at_once(base_config, schema):
    base_config["device"] = "gpu"
    base_config["seeds"]["attack"] = -1
    message = errors_of(base_config, schema)
    assert "device: 'gpu'" in message and "seeds.attack: -1" in message


def test_cross_key_rules(base_config, schema):
    base_config["data"]["mnist"]["latent_eps"] = 0.12
    base_config["figure_attack"] = "fgsm"
    base_config["cell_overrides"] = {"mnist/vae_d1_stp0.40_a0": {"epochs": 3}}
    message = errors_of(base_config, schema)
    assert "data.mnist.latent_eps: 0.12 is not in data.mnist.eps" in message
    assert "attack 'fgsm'" in message
    assert "write it as 'vae_d1_stp0.4_a0'" in message


def test_mirror_scheme_is_checked_at_parse_time(base_config, schema):
    base_config["mirror"] = "ftp://example.org/x"
    assert "scheme 'ftp' is not supported" in errors_of(base_config, schema)


def test_override_of_a_merged_cell_points_to_the_trained_one(base_config, schema):
    base_config["cell_overrides"] = {"mnist/ae_d1_stp0_a0": {"epochs": 3}}
    assert "trained once as ae_d0_stp0_a0" in errors_of(base_config, schema)


def test_override_of_a_cell_no_figure_trains_is_refused_with_the_cells_that_exist(base_config, schema):
    base_config["cell_overrides"] = {"mnist/vae_d1_stp0.7_a0": {"epochs": 3}}
    message = errors_of(base_config, schema)
    assert "cell_overrides.mnist/vae_d1_stp0.7_a0: no figure trains vae_d1_stp0.7_a0" in message
    assert "ae_d0_stp0_a0, " in message and "vae_d1_stp0.4_a0" in message
    base_config["cell_overrides"] = {"mnist/vae_d1_stp0.4_a0": {"epochs": 3}}
    check_config(base_config, schema)


def test_comparison_figures_are_checked(base_config, schema):
    base_config["comparison_figures"]["fig3_eot"]["attacks"] = ["cw", "cweot2"]
    base_config["comparison_figures"]["fig5"] = {"like": "fig3", "attacks": ["cw"]}
    base_config["comparison_figures"]["Eot"] = {"like": "fig3", "attacks": ["cw"]}
    base_config["comparison_figures"]["fig5_x"] = {"like": "fig5", "attacks": ["cw"]}
    base_config["comparison_figures"]["families"] = {"like": ["fig1", "fig6"], "attacks": ["cw"]}
    message = errors_of(base_config, schema)
    assert "comparison_figures: the key 'fig5' is not allowed; expected a name like fig3_eot or suite" in message
    assert "the key 'Eot' is not allowed" in message
    assert "comparison_figures.fig5_x.like: 'fig5' is not allowed; allowed: 'fig1', 'fig2', 'fig3', 'fig4'" in message
    assert "comparison_figures.families.like[1]: 'fig6' is not allowed" in message
    for name in ("fig5", "Eot", "fig5_x"):
        del base_config["comparison_figures"][name]
    base_config["comparison_figures"]["families"]["like"] = ["fig1", "fig4"]
    message = errors_of(base_config, schema)
    assert "comparison_figures.fig3_eot.attacks: 'cweot2' is not defined under attacks" in message


def test_the_adaptive_attack_has_the_paper_attacks_settings_and_draws(base_config, schema):
    check_config(base_config, schema)

    # the same attack but for the draws; a smaller batch, as each image is eot_draws forwards
    def attack_part(settings):
        return {k: v for k, v in settings.items() if k not in ("eot_draws", "batch_size")}

    cw, cweot = base_config["attacks"]["cw"], base_config["attacks"]["cweot"]
    assert attack_part(cweot) == attack_part(cw) and cweot["batch_size"] < cw["batch_size"]
    assert cweot["eot_draws"] > 1
    pgd, pgdeot = base_config["attacks"]["pgd"], base_config["attacks"]["pgdeot"]
    assert attack_part(pgdeot) == attack_part(pgd) and pgdeot["eot_draws"] > 1
    base_config["worst_case_over"] = ["cw", "pgdeot"]
    assert "worst_case_over: 'pgdeot' is adaptive (eot_draws)" in errors_of(base_config, schema)
    base_config["worst_case_over"] = ["cw"]
    base_config["attacks"]["cweot"]["eot_draws"] = 0
    assert "attacks.cweot.eot_draws: 0 is not allowed; allowed: integer >= 1" in errors_of(base_config, schema)


def test_a_nested_command_line_value_read_as_text_says_to_use_a_configfile(base_config, schema):
    base_config["threads"]["attack"] = "2"  # what --config 'threads={attack: 2}' hands over
    message = errors_of(base_config, schema)
    assert "threads.attack: '2' is not allowed; allowed: integer >= 1" in message
    assert "put it in a YAML file and give it with --configfile" in message
    base_config["threads"]["attack"] = 2.5  # a number of the wrong type: no such hint
    assert "put it in a YAML file" not in errors_of(base_config, schema)


def test_a_null_given_inside_a_nested_command_line_value_says_to_use_a_configfile(base_config, schema):
    base_config["sanity"]["longer_attack"] = "null"  # what --config 'sanity={longer_attack: null}' hands over
    message = errors_of(base_config, schema)
    assert "attack 'null'" in message
    assert "sanity.longer_attack: the text 'null', not a null: Snakemake's --config hands a null" in message
    base_config["sanity"]["longer_attack"] = "none"  # a name, not a null: no hint
    assert "not a null" not in errors_of(base_config, schema)
    base_config["sanity"]["longer_attack"] = "nosuchattack"  # a plain unknown name: no such hint
    assert "not a null" not in errors_of(base_config, schema)


def alias_bomb(levels: int, width: int = 9) -> str:
    """A 'billion laughs' YAML file: each level lists the previous one `width` times."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    lines.append(f"cell_overrides: {{mnist/ae_d0_stp0.4_a0: {{epochs: *l{levels}}}}}")
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_measured_without_being_expanded(base_config, schema):
    base_config.update(yaml.safe_load(alias_bomb(9)))  # 9^10 values if walked
    message = errors_of(base_config, schema)
    count = re.search(r"holds (\S+) values once its YAML aliases \(&anchor / \*alias\) are expanded", message)
    assert count and float(count[1]) > 2 * 9**10  # l9 twice (its own key and the alias), l8 ... l0 besides
    assert "at most 100000 are read" in message


def test_an_alias_to_an_enclosing_node_is_refused(base_config, schema):
    base_config["cell_overrides"] = yaml.safe_load("a: &a [1, *a]")
    assert "an alias to an enclosing node never ends" in errors_of(base_config, schema)


def test_a_config_with_a_few_small_aliases_is_read(base_config, schema):
    from aedefense.plan.config import expanded_size

    shared = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3]
    base_config["data"]["mnist"]["eps"] = shared
    base_config["data"]["fashion-mnist"]["eps"] = shared  # the same list twice, as an alias gives it
    check_config(base_config, schema)
    assert expanded_size({"a": shared, "b": shared}) == 15  # 1 + 2 x (1 + 6)


@pytest.mark.parametrize(
    "argv,files",
    [
        (["snakemake", "--configfile", "a.yaml", "--configfile", "b.yaml"], "a.yaml b.yaml"),
        (
            ["snakemake", "-n", "--configfile=a.yaml", "-c1", "--configfiles", "b.yaml", "c.yaml"],
            "a.yaml b.yaml c.yaml",
        ),
    ],
)
def test_a_second_configfile_option_is_refused_with_the_form_that_works(argv, files):
    from aedefense.plan.config import repeated_configfile_option

    message = repeated_configfile_option(argv)
    assert message.startswith("--configfile is given 2 times; Snakemake would read only the last")
    assert message.endswith(f"--configfile {files}")
    assert repeated_configfile_option(["snakemake", "--configfile", "a.yaml", "b.yaml"]) is None


def test_folders_this_user_cannot_use_are_named_at_every_depth():
    """Run as an unprivileged user where the tests run as root (root may enter any folder)."""
    import os
    import subprocess
    import sys
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="aedefense-perm-"))  # not under pytest's private tmp
    try:
        work.chmod(0o777)
        deep = [work / "results" / "mnist" / "ae" / "none" / "eval", work / "logs" / "mnist" / "ae" / "cell"]
        for folder in deep:
            folder.mkdir(parents=True)
        for folder in [p for p in work.rglob("*") if p.is_dir()]:
            folder.chmod(0o777)
        deep[0].chmod(0o555)  # cannot write: the probe's results/mnist/ae/none/eval
        deep[1].parent.chmod(0o000)  # cannot enter: the probe's results/mnist/ae
        code = f"from aedefense.files.io import unusable_folders; print(unusable_folders({str(work)!r}))"
        scripts = Path(__file__).resolve().parents[1] / "workflow" / "scripts"
        command, user = [sys.executable, "-c", code], {}
        if os.getuid() == 0:
            # an interpreter that user 65534 may run (aedefense.files.io needs the standard library only)
            interpreter = shutil.which("python3", path="/usr/bin:/usr/local/bin:/bin")
            if interpreter is None:
                pytest.skip("no system python3 that an unprivileged user could run")
            command, user = [interpreter, "-S", "-c", code], {"user": 65534}
        result = subprocess.run(command, capture_output=True, text=True, cwd=scripts, timeout=600, **user)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == str(sorted([str(deep[1].parent), str(deep[0])]))
    finally:
        deep[1].parent.chmod(0o700)
        deep[0].chmod(0o700)
        shutil.rmtree(work)


def test_the_schema_names_the_datasets_of_the_registry(schema):
    from aedefense.plan.config import load_schema
    from aedefense.plan.datasets import DATASETS

    schema = load_schema(schema)
    assert schema["$defs"]["dataset"]["enum"] == list(DATASETS)
    assert schema["properties"]["data"]["required"] == list(DATASETS)
    pattern = schema["properties"]["cell_overrides"]["propertyNames"]["pattern"]
    for name in DATASETS:
        assert re.match(pattern, f"{name}/vae_d1_stp0.4_a0")
    assert not re.match(pattern, "cifar10/vae_d1_stp0.4_a0") and not re.match(pattern, "mnist/sae_d1_stp0.4_a0")
    # a dataset without published checksums must say what its files hold
    assert schema["properties"]["data"]["properties"]["btsc"]["$ref"].endswith("data_of_unchecksummed_files")


ROOT = Path(__file__).resolve().parents[1]


SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def paths(value, prefix=()):
    """Every place in a config: dict keys and list items, nested."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


BASE = yaml.safe_load((ROOT / "config.yaml").read_text())


PLACES = paths(BASE)


VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 5000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "mnist", "vae", "cw", "ae_d0_stp0_a0", "fig3", "exact", "auto", "-1"]),
    st.lists(st.one_of(st.integers(-1, 3), st.floats(-1, 2)), max_size=3),
    st.dictionaries(st.sampled_from(["epochs", "x", "fig1", "mnist/ae_d0_stp0_a0"]), st.integers(-1, 3), max_size=2),
)


MUTATIONS = st.lists(
    st.tuples(st.sampled_from(PLACES), st.sampled_from(["replace", "delete", "add"]), VALUES),
    min_size=1,
    max_size=3,
)


def mutate(config, place, how, value):
    *parents, last = place
    holder = config
    for key in parents:
        holder = holder[key]
    if how == "replace":
        holder[last] = value
    elif how == "delete" and isinstance(holder, dict):
        del holder[last]
    elif how == "add" and isinstance(holder.get(last) if isinstance(holder, dict) else None, dict):
        holder[last]["unknown_key"] = value


def uses_at_parse_time(config):
    """What the Snakefile computes from a valid config before any job."""
    grid.trained_cells(config)
    grid.evaluations(config)
    grid.evaluation_scales(config)
    grid.latent_analyses(config)
    for dataset in config["datasets"]:
        params.classifier_settings(config, dataset)
        for cell in grid.trained_cells(config):
            params.autoencoder_settings(config, dataset, cell.name)
        for attack in config["attacks"]:
            for eps in config["data"][dataset]["eps"]:
                params.attack_settings(config, dataset, attack, float(eps), "vae_d1_stp0.4_a0", 1.0)
    for figure in [*grid.FIGURES, *config["comparison_figures"]]:
        params.figure_style(config, figure)
        if figure != "fig5":
            grid.figure_attacks(config, figure)
            grid.figure_layouts(config, figure)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(MUTATIONS)
def test_a_mutated_config_validates_or_fails_with_a_schema_message(mutations):
    config = copy.deepcopy(BASE)
    for place, how, value in mutations:
        try:
            mutate(config, place, how, value)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed or replaced this place
    try:
        check_config(config, SCHEMA)
    except ConfigError as error:
        problems = str(error).split("\n  - ")[1:]
        assert problems and all(problem.strip() for problem in problems)
        # the problems name what was changed: a key on the path of a mutated place
        keys = {str(key) for place, _, _ in mutations for key in place if isinstance(key, str)}
        assert any(key in problem for problem in problems for key in keys), (mutations, problems)
        return
    uses_at_parse_time(config)  # a valid config never breaks the parse


def test_non_finite_numbers_are_refused_by_name():
    config = copy.deepcopy(BASE)
    config["figures"]["fig1"]["stp"] = [0.0, math.nan]
    config["attacks"]["cw"]["lr"] = math.inf
    with pytest.raises(ConfigError) as error:
        check_config(config, SCHEMA)
    assert "figures.fig1.stp[1]" in str(error.value) and "attacks.cw.lr" in str(error.value)
