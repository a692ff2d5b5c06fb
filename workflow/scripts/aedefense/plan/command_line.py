"""The mistakes of a snakemake command line that Snakemake itself reports with a traceback,
before it reads the Snakefile: a target after --config (which takes every word after it), a
config file that does not exist, --configfile given twice. The `aedefense` command
(aedefense/cli.py), the estimate of `make paper` and `make report` check their arguments with
this first.
"""

from __future__ import annotations

from pathlib import Path

from aedefense.plan.config import configfile_groups, repeated_configfile_option

CONFIG_OPTIONS = ("--config", "-C")


def config_words(argv: list[str]) -> list[str]:
    """The words given to each --config option of a command line, in order.

    >>> config_words(["t.pdf", "--config", "a=1", "b=2", "--cores", "2"])
    ['a=1', 'b=2']
    """
    words = []
    for index, word in enumerate(argv):
        if word in CONFIG_OPTIONS:
            for following in argv[index + 1 :]:
                if following.startswith("-"):
                    break
                words.append(following)
    return words


def command_line_problems(argv: list[str], cwd: str | Path = ".", program: str = "snakemake") -> list[str]:
    """One sentence with its fix per mistake of a snakemake command line (`program` starts the
    example of the right order).

    >>> command_line_problems(["--config", "mirror=/m", "results/figures/fig3.pdf"])[0].split(":")[0]
    "--config takes every word after it, and 'results/figures/fig3.pdf' is not name=value"
    """
    problems = []
    for word in config_words(argv):
        if "=" not in word:
            others = " ".join(w for w in argv if w != word)
            problems.append(
                f"--config takes every word after it, and {word!r} is not name=value: a target goes "
                f"before the options, e.g. {program} {word} {others}"
            )
    for files in configfile_groups(argv):
        for name in files:
            if not (Path(cwd) / name).is_file():
                problems.append(
                    f"the config file {name} does not exist (looked for in {Path(cwd).resolve()}): write it first "
                    "(docs/own-defences.md shows one, mine.yaml) or give its path"
                )
    repeated = repeated_configfile_option(argv)
    if repeated:
        problems.append(repeated)
    return problems
