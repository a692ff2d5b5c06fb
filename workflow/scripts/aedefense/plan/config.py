"""Validation of config.yaml, with messages that name the key and what is allowed."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from aedefense.plan.datasets import DATASETS, file_format
from aedefense.plan.families import FAMILIES, FAMILY_REGEX
from aedefense.plan.grid import DEFENCES_FIGURE, FIGURES, trained_cells
from aedefense.plan.names import UNDEFENDED, WORST
from aedefense.plan.paper_figures import ACCURACY_FIGURES

NESTED_AS_TEXT = (
    "a nested value given as --config 'key={...}' reaches the workflow as text: "
    "put it in a YAML file and give it with --configfile"
)


class ConfigError(ValueError):
    """The config does not satisfy the schema or the workflow's own rules."""


def load_schema(path: str | Path) -> dict:
    """The schema with what the records say filled in: the dataset, family and figure enums, the
    data block per dataset, the figures block per paper figure, the {dataset} and {family} of
    its name patterns (plan/datasets.py, plan/families.py, plan/paper_figures.py)."""
    with open(path) as handle:
        schema = yaml.safe_load(handle)
    schema["$defs"]["dataset"]["enum"] = list(DATASETS)
    schema["$defs"]["family"]["enum"] = list(FAMILIES)
    data = schema["properties"]["data"]
    data["required"] = list(DATASETS)
    checked = {True: "#/$defs/data_of_checksummed_files", False: "#/$defs/data_of_unchecksummed_files"}
    data["properties"] = {
        name: {"$ref": checked[file_format(record.layout).published_checksums]} for name, record in DATASETS.items()
    }
    schema["$defs"]["accuracy_figure"]["enum"] = list(ACCURACY_FIGURES)
    figures = schema["properties"]["figures"]
    figures["required"] = list(FIGURES)
    figures["properties"] = {name: {"$ref": "#/$defs/figure_cells"} for name in FIGURES}
    schema["properties"]["comparison_figures"]["propertyNames"]["not"]["enum"] = list(FIGURES)
    names = "(?:" + "|".join(map(re.escape, DATASETS)) + ")"
    return _fill_patterns(schema, {"{family}": FAMILY_REGEX, "{dataset}": names})


def _fill_patterns(node, values: dict):
    if isinstance(node, dict):
        return {
            key: _fill_pattern(value, values) if key == "pattern" else _fill_patterns(value, values)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_fill_patterns(item, values) for item in node]
    return node


def _fill_pattern(pattern: str, values: dict) -> str:
    for token, value in values.items():
        pattern = pattern.replace(token, value)
    return pattern


def key_path(parts) -> str:
    """['data', 'mnist', 'eps', 2] -> 'data.mnist.eps[2]'."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _allowed(schema: dict) -> str:
    """A short description of what a sub-schema accepts."""
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    if "$ref" in schema:
        return ""
    kinds = schema.get("type")
    if isinstance(kinds, list):
        kinds = " or ".join(kinds)
    bounds = []
    if "minimum" in schema:
        bounds.append(f">= {schema['minimum']}")
    if "exclusiveMinimum" in schema:
        bounds.append(f"> {schema['exclusiveMinimum']}")
    if "maximum" in schema:
        bounds.append(f"<= {schema['maximum']}")
    if "exclusiveMaximum" in schema:
        bounds.append(f"< {schema['exclusiveMaximum']}")
    text = f"{kinds}" if kinds else ""
    if bounds:
        text += (" " if text else "") + " and ".join(bounds)
    return text


def _property_names(schema: dict, root: dict) -> list[str]:
    """The keys a (possibly $ref-composed) object schema declares."""
    names = set(schema.get("properties", {}))
    ref = schema.get("$ref", "")
    if ref.startswith("#/$defs/"):
        names |= set(_property_names(root["$defs"][ref.split("/")[-1]], root))
    return sorted(names)


def _reads_as_non_text(value) -> bool:
    """A string that YAML would read as a number, a boolean or null."""
    if not isinstance(value, str):
        return False
    try:
        return not isinstance(yaml.safe_load(value), (str, dict, list))
    except yaml.YAMLError:
        return False


def _as_written(value) -> str:
    """A value as YAML writes it: true, false, null; others as Python shows them."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return repr(value)


def _describe(error: jsonschema.ValidationError, root: dict) -> str:
    where = key_path(error.absolute_path)
    kind = error.validator
    if kind in ("additionalProperties", "unevaluatedProperties"):
        allowed = _property_names(error.schema, root)
        unknown = sorted(k for k in error.instance if k not in allowed)
        prefix = f"{where}." if error.absolute_path else ""
        keys = ", ".join(f"'{prefix}{k}'" for k in unknown)
        return f"unknown key {keys}; allowed keys here: {', '.join(allowed)}"
    if kind == "enum":
        return f"{where}: {error.instance!r} is not allowed; allowed: " + ", ".join(
            _as_written(v) for v in error.validator_value
        )
    if "propertyNames" in error.absolute_schema_path:
        expected = error.schema.get("description", f"matching {error.schema.get('pattern')}")
        return f"{where}: the key {error.instance!r} is not allowed; expected {expected}"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "type", "const"):
        allowed = _allowed(error.schema)
        hint = f" ({error.schema['description']})" if "description" in error.schema else ""
        if kind == "type" and _reads_as_non_text(error.instance) and len(error.absolute_path) > 1:
            hint += f"; {NESTED_AS_TEXT}"
        return f"{where}: {error.instance!r} is not allowed; allowed: {allowed}{hint}"
    if kind == "pattern":
        return f"{where}: {error.instance!r} does not match the pattern {error.validator_value}"
    return f"{where}: {error.message}"


def _leaf_errors(errors):
    """Unfold allOf/if-then groups so each message points at the offending key."""
    for error in errors:
        if error.context:
            yield from _leaf_errors(error.context)
        else:
            yield error


def schema_errors(config: dict, schema: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(
        _leaf_errors(validator.iter_errors(config)),
        key=lambda e: [str(p) for p in e.absolute_path],
    )
    messages = []
    for error in errors:
        text = _describe(error, schema)
        if text not in messages:
            messages.append(text)
    return messages


def _named_cell_problems(where: str, name: str, trained: set, trained_label: str) -> list[str]:
    """Why a cell named in the config (an override, a seed count) would change nothing: not a
    cell name, a denoising cell at stp 0 (trained once, without denoising), or no figure's."""
    from aedefense.plan.cells import cell_from_name

    try:
        cell = cell_from_name(name)
    except ValueError as error:
        return [f"{where}: {error}"]
    if cell.canonical() != cell:
        return [
            f"{where}: with stp 0 denoising changes nothing, so this cell is trained once as "
            f"{cell.canonical().name}; name that one instead"
        ]
    if cell.name not in trained:
        return [
            f"{where}: no figure trains {cell.name}, so it would change nothing; "
            f"{trained_label}: {', '.join(sorted(trained))}"
        ]
    return []


def rule_errors(config: dict) -> list[str]:
    """Rules that JSON Schema cannot express: cross-references between keys."""
    from aedefense.plan.cells import cell_from_name

    messages = []
    for dataset in config["datasets"]:
        settings = config["data"][dataset]
        if settings["latent_eps"] not in settings["eps"]:
            messages.append(
                f"data.{dataset}.latent_eps: {settings['latent_eps']} is not in "
                f"data.{dataset}.eps {settings['eps']}; Fig. 5 needs an attacked eps"
            )
    named = [config["figure_attack"], config["reference_attack"]["attack"], config["health"]["attack"]]
    named += [config["defence_comparison"]["attack"]]
    named += [config["sanity"]["longer_attack"]] if config["sanity"]["longer_attack"] else []
    for name in named:
        if name not in config["attacks"]:
            messages.append(
                f"attack {name!r} (figure_attack / reference_attack.attack / sanity.longer_attack / health.attack "
                "/ defence_comparison.attack) is not defined "
                f"under attacks; defined: {', '.join(sorted(config['attacks']))}"
            )
    for i, shown in enumerate(config["defence_comparison"]["cells"]):
        if shown["cell"].startswith("ae_") and shown["scale"] != 0:
            messages.append(
                f"defence_comparison.cells[{i}]: {shown['cell']} is an AE, which does not sample: its scale is 0"
            )
    transfer = config["health"]["transfer_attack"]
    if transfer not in config["attacks"] or config["attacks"][transfer]["method"] == "suite":
        messages.append(f"health.transfer_attack: {transfer!r} is not a plain attack defined under attacks")
    elif "eot_draws" in config["attacks"][transfer]:
        messages.append(
            f"health.transfer_attack: {transfer!r} is adaptive (eot_draws); the undefended classifier does not "
            "sample: name a plain attack"
        )
    for attack in config["worst_case_over"]:
        if attack not in config["attacks"]:
            messages.append(
                f"worst_case_over: {attack!r} is not defined under attacks; "
                f"defined: {', '.join(sorted(config['attacks']))}"
            )
        elif "eot_draws" in config["attacks"][attack]:
            messages.append(
                f"worst_case_over: {attack!r} is adaptive (eot_draws), with one adversarial set "
                "per latent scale; the worst case is taken over attacks whose one set serves every "
                "scale: remove it"
            )
    for name, spec in config["attacks"].items():
        if spec["method"] != "suite":
            continue
        for protocol in ("standard", "rand"):
            for attack in spec[protocol]:
                inner = config["attacks"].get(attack)
                if inner is None:
                    messages.append(
                        f"attacks.{name}.{protocol}: {attack!r} is not defined under attacks; "
                        f"defined: {', '.join(sorted(config['attacks']))}"
                    )
                elif inner["method"] == "suite":
                    messages.append(f"attacks.{name}.{protocol}: {attack!r} is a suite itself; name plain attacks")
                elif protocol == "standard" and "eot_draws" in inner:
                    messages.append(
                        f"attacks.{name}.standard: {attack!r} is adaptive (eot_draws); the standard protocol "
                        "attacks deterministic defences: name its plain form"
                    )
    for name, spec in config["comparison_figures"].items():
        for attack in spec["attacks"]:
            if attack not in config["attacks"] and attack != WORST:
                messages.append(
                    f"comparison_figures.{name}.attacks: {attack!r} is not defined under attacks "
                    f"(nor {WORST!r}); defined: {', '.join(sorted(config['attacks']))}"
                )
    for name in config["figure_style_overrides"]:
        if name not in (*FIGURES, DEFENCES_FIGURE) and name not in config["comparison_figures"]:
            messages.append(
                f"figure_style_overrides.{name}: no comparison figure of that name; defined: "
                f"{', '.join(sorted(config['comparison_figures'])) or 'none'}"
            )
    trained = {cell.name for cell in trained_cells(config)}
    for key in config["cell_overrides"]:
        dataset, name = key.split("/", 1)
        messages += _named_cell_problems(f"cell_overrides.{key}", name, trained, f"the cells trained for {dataset}")
    for name in config.get("training_seeds_cells") or {}:
        if name != UNDEFENDED:
            messages += _named_cell_problems(f"training_seeds_cells.{name}", name, trained, "the cells trained")
    for name in config["reference_attack"]["cells"]:
        try:
            cell_from_name(name)
        except ValueError as error:
            messages.append(f"reference_attack.cells: {error}")
    for name, entry in config["defences"].items():
        if not set(entry["datasets"]) & set(config["datasets"]):
            messages.append(
                f"defences.{name}.datasets: {', '.join(entry['datasets'])}, none of which this run covers "
                f"(datasets: {', '.join(config['datasets'])}), so the defence would be left out without a word: "
                "add one of the run's datasets to it, or its dataset to datasets"
            )
        if entry.get("classifier") and entry["returns"] == "purifier":
            messages.append(
                f"defences.{name}.classifier: a purifier always stands in front of the dataset's classifier; "
                "classifier: true is for a whole model (returns: model) that wraps it"
            )
    return messages


# A config expands to about a thousand values; far more means YAML aliases gone wrong.
MAX_CONFIG_VALUES = 100_000


def expanded_size(value, counted: dict | None = None, open_nodes: set | None = None) -> int:
    """How many values `value` holds with its YAML aliases (&anchor / *alias) expanded. Each
    shared node is counted once, by object identity, so an alias bomb ("billion laughs") is
    measured in the time its file takes to read rather than walked for hours. A node that
    contains itself counts as too many."""
    counted = {} if counted is None else counted
    open_nodes = set() if open_nodes is None else open_nodes
    if not isinstance(value, (dict, list)):
        return 1
    key = id(value)
    if key in counted:
        return counted[key]
    if key in open_nodes:
        return MAX_CONFIG_VALUES + 1  # an alias to an enclosing node: infinite
    open_nodes.add(key)
    children = value.values() if isinstance(value, dict) else value
    counted[key] = 1 + sum(expanded_size(child, counted, open_nodes) for child in children)
    open_nodes.discard(key)
    return counted[key]


def check_size(config: dict) -> None:
    """Refuse a config that YAML aliases expand beyond MAX_CONFIG_VALUES, before anything walks it."""
    counted: dict = {}
    total = expanded_size(config, counted)
    if total <= MAX_CONFIG_VALUES:
        return
    largest = max(config, key=lambda k: expanded_size(config[k], counted))
    raise ConfigError(
        f"the config (config.yaml with any --configfile / --config on top) holds {total:.3g} values once its "
        f"YAML aliases (&anchor / *alias) are expanded, most of them under '{largest}'; at most "
        f"{MAX_CONFIG_VALUES} are read. Nested aliases multiply (an alias bomb), and an alias to an enclosing "
        "node never ends: write the values out, or alias only small blocks."
    )


def non_finite_numbers(value, where="") -> list[str]:
    """YAML can say .nan and .inf, and JSON Schema's bounds let NaN through: refuse them."""
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{where}: {value} is not allowed; numbers must be finite"]
    if isinstance(value, dict):
        return [m for k, v in value.items() for m in non_finite_numbers(v, f"{where}.{k}" if where else str(k))]
    if isinstance(value, list):
        return [m for i, v in enumerate(value) for m in non_finite_numbers(v, f"{where}[{i}]")]
    return []


def null_texts(value, path: str = "") -> list[str]:
    """Where the config holds the text 'null' or '~': what Snakemake's --config makes of a
    null, such as --config 'sanity={longer_attack: null}'; each as "<key>: the text '<it>'"."""
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in null_texts(item, f"{path}.{key}" if path else key)]
    if isinstance(value, list):
        return [found for i, item in enumerate(value) for found in null_texts(item, f"{path}[{i}]")]
    if isinstance(value, str) and value.strip() in ("null", "Null", "NULL", "~"):
        return [f"{path}: the text {value!r}"]
    return []


def validate_config(config: dict, schema_path: str | Path, checks=()) -> dict:
    """Raise ConfigError listing every problem, or return the config unchanged. checks: more
    checks, each config -> list of problems, run in order while none was found (what only a
    lower layer can tell: aedefense.config_check passes the mirror's and the user defences')."""
    check_size(config)
    messages = non_finite_numbers(config) + schema_errors(config, load_schema(schema_path))
    if not messages:
        messages = rule_errors(config)
    for check in checks:
        if not messages:
            messages += check(config)
    if messages and null_texts(config) and not any(NESTED_AS_TEXT in message for message in messages):
        messages.append(
            f"{'; '.join(null_texts(config))}, not a null: Snakemake's --config hands a null over as text; "
            "put it in a YAML file and give it with --configfile"
        )
    if messages:
        raise ConfigError(
            "the config (config.yaml with any --configfile / --config on top) is not valid "
            "(schema: workflow/schemas/config.schema.yaml):\n  - " + "\n  - ".join(messages)
        )
    return config


CONFIGFILE_OPTIONS = ("--configfile", "--configfiles")


def repeated_configfile_option(argv: list[str]) -> str | None:
    """The complaint about a command line that gives --configfile more than once: Snakemake
    keeps the files of the last option only and drops the others without a word."""
    groups = configfile_groups(argv)
    if len(groups) < 2:
        return None
    given = [f for files in groups for f in files]
    return (
        f"--configfile is given {len(groups)} times; Snakemake would read only the last ({' '.join(groups[-1])}) "
        f"and drop the others without a word. Give every file after one option, later files on top of earlier "
        f"ones: --configfile {' '.join(given)}"
    )


# config.yaml is about 30 KB; a config file far larger is a mistake, and reading it would take
# minutes before any message.
MAX_CONFIG_BYTES = 1 << 20


def configfile_groups(argv: list[str]) -> list[list[str]]:
    """The files given to each --configfile option of a command line, in order."""
    groups = []
    for i, word in enumerate(argv):
        option, _, inline = word.partition("=")
        if option not in CONFIGFILE_OPTIONS:
            continue
        files = [inline] if inline else []
        for following in argv[i + 1 :]:
            if following.startswith("-"):
                break
            files.append(following)
        groups.append(files)
    return groups


class _DuplicateKeys(yaml.SafeLoader):
    """A YAML loader that notes every mapping key given twice (YAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = key_node.value
                if key in seen:
                    self.duplicates.append(f"'{key}' on lines {seen[key] + 1} and {key_node.start_mark.line + 1}")
                seen.setdefault(key, key_node.start_mark.line)
        return super().construct_mapping(node, deep)


def configfile_problems(paths) -> list[str]:
    """What is wrong with the config files themselves: one over MAX_CONFIG_BYTES (checked by its
    size, before it is read) or a key given twice in one mapping (YAML would keep the last
    value without a word). A file that does not exist is Snakemake's to report."""
    problems = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            continue
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            problems.append(
                f"config file {path} is {size / 2**20:.1f} MiB; a config of this workflow is tens of KB and at most "
                f"{MAX_CONFIG_BYTES >> 20} MiB is read: give the file that was meant, or cut it down"
            )
            continue
        loader = _DuplicateKeys(path.read_text(encoding="utf-8", errors="replace"))
        loader.duplicates = []
        try:
            loader.get_single_data()
        except yaml.YAMLError:
            continue  # Snakemake has read it already; a file it cannot parse never gets here
        finally:
            loader.dispose()
        if loader.duplicates:
            problems.append(
                f"config file {path} gives a key twice in one block, where YAML would keep the last value without a "
                f"word: {', '.join(loader.duplicates)}. Keep one of each"
            )
    return problems


def resolve_path(path: str, base: str | Path) -> Path:
    """A config path: absolute as given, relative to `base` otherwise."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else Path(base) / candidate


def as_plain(value: Any) -> Any:
    """Snakemake hands config parts as its own dict/list types; params want plain ones."""
    if isinstance(value, dict):
        return {str(k): as_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_plain(v) for v in value]
    return value
