"""Defences of the user's own (config `defences:`): load the callable an entry names, check
its contract, and wrap it for the attacks (BPDA where it is not differentiable).

An entry's `callable` is `path/to/file.py:name` (relative to the workflow's directory, or
absolute) or `package.module:name` (importable where Snakemake and the jobs run). It is a
factory: called with the entry's `settings` as keyword arguments (and `checkpoint=<path>`
where the entry names one), it returns a torch module or a function of a batch: a purifier
(images in [0, 1] -> images of the same shape, put in front of the dataset's classifier) or
a whole model (images -> logits). It is code the user chose to run, like the Snakefile.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from aedefense.core.models import Classifier, DefendedModel, fast_forward_form
from aedefense.plan.cells import is_stochastic
from aedefense.plan.names import AUTO

PURIFIER, MODEL = "purifier", "model"
# where relative paths of an entry start: the workflow's directory (this file's is
# workflow/scripts/aedefense/core/ in it)
WORKFLOW_ROOT = Path(__file__).resolve().parents[4]
# a purifier's output may leave [0, 1] by this much (float rounding in its last operation)
RANGE_TOLERANCE = 1e-5
CONTRACT_IMAGES = 16  # images the contract check runs on


@dataclass(frozen=True)
class Reference:
    """Where a callable lives: a file (path) or an importable module (module), and its name."""

    text: str
    name: str
    path: Path | None = None
    module: str | None = None


def parse_reference(text: str, root: str | Path) -> Reference:
    """`file.py:name` (relative to root unless absolute) or `package.module:name`."""
    where, sep, name = text.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise ValueError(f"{text!r} is not of the form path/to/file.py:function or package.module:function")
    if where.endswith(".py"):
        path = Path(where).expanduser()
        return Reference(text, name, path=path if path.is_absolute() else Path(root) / path)
    if not all(part.isidentifier() for part in where.split(".")):
        raise ValueError(f"{where!r} is neither a .py file nor a dotted module name")
    return Reference(text, name, module=where)


def package_root(path: Path) -> Path | None:
    """The top folder of the package a file lies in (folders with __init__.py), or None."""
    top = None
    folder = Path(path).resolve().parent
    while (folder / "__init__.py").is_file():
        top, folder = folder, folder.parent
    return top


def _module_of(reference: Reference):
    if reference.module is not None:
        return importlib.import_module(reference.module)
    path = reference.path
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    top = package_root(path)
    if top is not None:  # a file of a package: imported as package.module, so its imports work
        if str(top.parent) not in sys.path:
            sys.path.append(str(top.parent))
        dotted = path.resolve().relative_to(top.parent).with_suffix("").parts
        return importlib.import_module(".".join(p for p in dotted if p != "__init__"))
    # a lone file: its folder on the import path (after everything installed), so that a
    # helper beside it imports; one module per file, named after its path, so two defences
    # in two files never clash
    if str(path.resolve().parent) not in sys.path:
        sys.path.append(str(path.resolve().parent))
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    module_name = f"aedefense_user_{path.stem}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def defence_files(entry: dict, root: str | Path) -> list[Path]:
    """Every file a defence's code is in beyond its callable's own: each .py file of the
    package the callable's file belongs to, and the entry's `files` (globs relative to the
    workflow's directory). Its jobs take them as inputs, so editing any reruns them."""
    files = []
    for key in ("callable", "bpda"):
        reference = parse_reference(entry[key], root) if entry.get(key) else None
        if reference is not None and reference.path is not None and package_root(reference.path):
            files += sorted(package_root(reference.path).rglob("*.py"))
    for pattern in entry.get("files") or []:
        found = sorted(p for p in Path(root).glob(pattern) if p.is_file())
        if not found:
            raise FileNotFoundError(f"files: {pattern!r} matches no file under {root}")
        files += found
    return list(dict.fromkeys(p.resolve() for p in files))


def load_callable(reference: Reference) -> Callable:
    module = _module_of(reference)
    function = getattr(module, reference.name, None)
    if function is None:
        defined = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        where = reference.module or reference.path
        raise AttributeError(
            f"{where} has no {reference.name!r}; it defines: {', '.join(defined) or 'nothing callable'}"
        )
    if not callable(function):
        raise TypeError(f"{reference.text} is a {type(function).__name__}, not a callable")
    return function


def source_file(reference: Reference) -> Path | None:
    """The file a callable's code is in, for provenance (None: a module without one)."""
    if reference.path is not None:
        return reference.path
    origin = getattr(importlib.util.find_spec(reference.module), "origin", None)
    return Path(origin) if origin and origin not in ("built-in", "frozen") else None


def entry_problems(name: str, entry: dict, root: str | Path) -> list[str]:
    """What stops a defence entry before any job: its callable (or bpda) cannot be imported
    or does not exist, its checkpoint is missing, a whole model declared non-differentiable
    has no approximation for BPDA."""
    problems = []
    where = f"defences.{name}"
    for key in ("callable", "bpda"):
        if entry.get(key) is None:
            continue
        try:
            load_callable(parse_reference(entry[key], root))
        except Exception as error:  # the user's module may raise anything while importing
            problems.append(f"{where}.{key}: {entry[key]!r} cannot be loaded: {type(error).__name__}: {error}")
        else:
            problems += _argument_problems(f"{where}.{key}", entry, root, key)
    try:
        defence_files(entry, root)
    except FileNotFoundError as error:
        problems.append(f"{where}.{error}")
    checkpoint = entry.get("checkpoint")
    if checkpoint is not None and not checkpoint_path(entry, root).is_file():
        problems.append(f"{where}.checkpoint: no such file: {checkpoint_path(entry, root)}")
    if entry["returns"] == MODEL and entry["differentiable"] is False and entry.get("bpda") is None:
        problems.append(
            f"{where}.bpda: a whole model declared differentiable: false needs a differentiable "
            "approximation (images -> logits) for BPDA; the identity stands in for purifiers only"
        )
    return problems


def _argument_problems(where: str, entry: dict, root, key: str) -> list[str]:
    """A factory that could not be called with the entry's arguments: an unknown keyword
    (settings.strength for a factory without it) or a required one not given."""
    import inspect

    factory = load_callable(parse_reference(entry[key], root))
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # a builtin or C callable: nothing to read
        return []
    given = set(factory_arguments(entry, root, key, classifier=object()))
    kinds = {p.kind for p in parameters.values()}
    problems = []
    if inspect.Parameter.VAR_KEYWORD not in kinds:
        accepted = [n for n, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        for name in sorted(given - set(accepted)):
            source = "settings." + name if name in (entry.get("settings") or {}) else name
            problems.append(
                f"{where}: {entry[key]} takes no argument {name!r} (given as {source}); it takes: "
                f"{', '.join(accepted) or 'no keyword arguments'}"
            )
    missing = [
        n
        for n, p in parameters.items()
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in given
    ]
    if "classifier" in missing:
        missing.remove("classifier")
        problems.append(
            f"{where}: {entry[key]} takes the dataset's classifier: set classifier: true in the entry, and each job "
            "calls it with the trained classifier of the workflow"
        )
    if missing:
        problems.append(f"{where}: {entry[key]} needs {', '.join(missing)}: give it under settings")
    return problems


def checkpoint_path(entry: dict, root: str | Path) -> Path | None:
    checkpoint = entry.get("checkpoint")
    if checkpoint is None:
        return None
    path = Path(checkpoint).expanduser()
    return path if path.is_absolute() else Path(root) / path


def factory_arguments(entry: dict, root: str | Path, key: str = "callable", classifier=None) -> dict:
    """The keyword arguments a factory is called with: the entry's `settings`, `checkpoint`
    (its path) where the entry names one, and `classifier` (the dataset's trained classifier,
    a torch module in eval mode) for a model that wraps it (`classifier: true`)."""
    kwargs = dict(entry.get("settings") or {})
    if entry.get("checkpoint") is not None:
        kwargs["checkpoint"] = str(checkpoint_path(entry, root))
    if key == "callable" and entry.get("classifier"):
        kwargs["classifier"] = classifier
    return kwargs


def build(entry: dict, root: str | Path, device=None, key: str = "callable", classifier=None):
    """The defence function an entry's factory returns (`key` bpda: its approximation), in
    evaluation mode, on `device` where given (a module; a function follows its input)."""
    factory = load_callable(parse_reference(entry[key], root))
    function = factory(**factory_arguments(entry, root, key, classifier))
    if not callable(function):
        raise TypeError(f"{entry[key]} returned a {type(function).__name__}, not a module or function")
    if isinstance(function, torch.nn.Module):
        function = function.eval() if device is None else function.to(device).eval()
    return function


@dataclass
class Contract:
    """What the contract check found, and what it refuses (problems) or only reports (notes)."""

    stochastic: bool | None = None
    differentiable: bool | None = None
    zero_gradient_share: float | None = None
    problems: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def as_record(self) -> dict:
        return asdict(self)


def check_contract(
    function: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    returns: str,
    classes: int,
    stochastic: bool | str,
    differentiable: bool,
) -> Contract:
    """Run the defence on the batch x (on the job's device) and check its contract: the
    output's shape, range (purifiers: [0, 1]), finiteness and device; the same output twice
    under one seed; whether two seeds disagree (stochastic), against the declaration (true,
    false or auto); whether gradients reach the input, where declared differentiable.

    >>> import torch
    >>> x = torch.rand(4, 1, 28, 28)
    >>> blur = torch.nn.AvgPool2d(3, stride=1, padding=1)  # a purifier: images -> images
    >>> contract = check_contract(blur, x, returns="purifier", classes=10, stochastic="auto", differentiable=True)
    >>> contract.problems, contract.stochastic, contract.zero_gradient_share
    ([], False, 0.0)
    >>> noisy = lambda x: (x + 0.1 * torch.randn_like(x)).clamp(0.0, 1.0)
    >>> check_contract(noisy, x, returns="purifier", classes=10, stochastic=False, differentiable=True).problems
    ['declared stochastic: false, but two seeds give different outputs: declare stochastic: true (or auto)']
    """
    contract = Contract()
    expected = tuple(x.shape) if returns == PURIFIER else (len(x), classes)

    def run(seed):
        torch.manual_seed(seed)  # every device's generator
        with torch.no_grad():
            return function(x)

    try:
        first = run(0)
    except Exception as error:
        shape = tuple(x.shape)
        contract.problems.append(f"calling it on a batch of shape {shape} raised {type(error).__name__}: {error}")
        return contract
    if not isinstance(first, torch.Tensor):
        contract.problems.append(f"it returns a {type(first).__name__}; a tensor of shape {expected} is expected")
        return contract
    if tuple(first.shape) != expected:
        what = "the input's shape" if returns == PURIFIER else "(images, classes)"
        contract.problems.append(f"its output has shape {tuple(first.shape)}; expected {expected}, {what}")
    if first.dtype != x.dtype:
        contract.problems.append(
            f"its output is {str(first.dtype).removeprefix('torch.')} for a {str(x.dtype).removeprefix('torch.')} "
            f"input: return {str(x.dtype).removeprefix('torch.')} (e.g. .to(x.dtype)); the classifier and the "
            "attacks compute in the input's precision"
        )
    if first.device != x.device:
        contract.problems.append(
            f"its output is on {first.device} for an input on {x.device}: create its tensors on x.device "
            "(a module's parameters and buffers are moved for it)"
        )
        return contract
    if not torch.isfinite(first).all():
        contract.problems.append(f"its output holds {int((~torch.isfinite(first)).sum())} NaN or infinite values")
    elif returns == PURIFIER and (first.min() < -RANGE_TOLERANCE or first.max() > 1 + RANGE_TOLERANCE):
        contract.problems.append(
            f"its output ranges over [{float(first.min()):.4g}, {float(first.max()):.4g}]; a purifier returns "
            "images in [0, 1] (clamp its output)"
        )
    if contract.problems:
        return contract
    try:
        again, other = run(0), run(1)
    except Exception as error:
        contract.problems.append(f"a second call raised {type(error).__name__}: {error}")
        return contract
    if not torch.equal(first, again):
        contract.problems.append(
            "two calls under the same seed differ: it draws from a random generator other than torch's "
            "(draw with torch, e.g. torch.randn_like, so that a seed fixes its draws)"
        )
        return contract
    found = not torch.equal(first, other)
    contract.stochastic = found
    if stochastic != AUTO and bool(stochastic) != found:
        contract.problems.append(
            f"declared stochastic: {str(stochastic).lower()}, but two seeds give "
            + ("different outputs" if found else "the same output")
            + f": declare stochastic: {str(found).lower()} (or auto)"
        )
    contract.differentiable = differentiable
    if differentiable:
        _check_gradients(function, x, contract)
    return contract


class DefenceTimeout(TimeoutError):
    """One call of a user defence took longer than its time limit."""


def time_limited(function: Callable, seconds: float) -> Callable:
    """`function`, each call stopped with DefenceTimeout after `seconds` (SIGALRM: call it
    from the main thread; elsewhere, or where there is no SIGALRM, it runs unlimited)."""
    import signal
    import threading

    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        return function

    def alarm(signum, frame):
        raise DefenceTimeout(f"one call took longer than {seconds:g} s (the limit: defence_time_limit_s)")

    def limited(x):
        previous = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return function(x)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    return limited


def _check_gradients(function, x, contract: Contract) -> None:
    probe = x.detach().clone().requires_grad_(True)
    torch.manual_seed(0)
    try:
        out = function(probe)
        if not out.requires_grad:
            raise RuntimeError("the output does not depend on the input in autograd's graph")
        (grad,) = torch.autograd.grad(out.float().sum(), probe, allow_unused=True)
        if grad is None:
            raise RuntimeError("the input's gradient is None")
    except Exception as error:
        contract.problems.append(
            f"declared differentiable, but gradients do not reach the input ({error}): declare "
            "differentiable: false to attack through BPDA"
        )
        return
    if not torch.isfinite(grad).all():
        contract.problems.append("declared differentiable, but the input's gradient holds NaN or infinite values")
        return
    zero = (grad.flatten(1).abs().sum(1) == 0).float().mean().item()
    contract.zero_gradient_share = zero
    if zero > 0:
        contract.notes.append(
            f"the input gradient is exactly zero for {zero:.0%} of the check's images: gradient attacks "
            "learn nothing there (the health table's zero_gradients check); declare differentiable: "
            "false to attack through BPDA"
        )


def _kept(module: torch.nn.Module, name: str, function) -> None:
    """A module is registered (moved by .to(), put in eval mode); a plain function is kept."""
    if isinstance(function, torch.nn.Module) or function is None:
        setattr(module, name, function)
    else:
        module.__dict__[name] = function


class BPDA(torch.nn.Module):
    """Backward Pass Differentiable Approximation (Athalye et al. 2018): the defence's output
    on the forward pass, the gradient of `approximation` (the identity if None) on the
    backward pass.

    >>> import torch
    >>> quantise = BPDA(lambda x: torch.round(x * 3) / 3)  # its own gradient is zero
    >>> x = torch.tensor([0.1, 0.5], requires_grad=True)
    >>> quantise(x).sum().backward()
    >>> x.grad.tolist()  # the identity's gradient reaches the input
    [1.0, 1.0]
    """

    def __init__(
        self,
        function: Callable[[torch.Tensor], torch.Tensor],
        approximation: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        _kept(self, "function", function)
        _kept(self, "approximation", approximation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out = self.function(x)
        stand_in = x if self.approximation is None else self.approximation(x)
        return stand_in + (out - stand_in).detach()


class Stacked(torch.nn.Module):
    """classifier(purifier(x)) as one module: the defended model the attacks see."""

    def __init__(self, classifier, purifier):
        super().__init__()
        self.classifier = classifier
        _kept(self, "purifier", purifier)

    def forward(self, x):
        return self.classifier(self.purifier(x))


@dataclass
class UserDefence:
    """A configured defence as its jobs use it: the entry, the function its factory returned,
    the approximation for BPDA (None: the identity) and what the contract check found."""

    name: str
    entry: dict
    function: Callable
    approximation: Callable | None
    stochastic: bool
    differentiable: bool

    def model(self, classifier, *, attack: bool) -> torch.nn.Module:
        """The defended model: behind BPDA for an attack where it is not differentiable."""
        function = self.function
        if attack and not self.differentiable:
            function = BPDA(function, self.approximation)
        if self.entry["returns"] == MODEL:
            return function if isinstance(function, torch.nn.Module) else Stacked(torch.nn.Identity(), function)
        return Stacked(classifier, function)


def load_user_defence(name: str, entry: dict, inputs, classifier=None) -> UserDefence:
    """A configured defence as a job uses it, with what its contract check (the job's input
    `contract`) found; its files are the job's inputs too (provenance). classifier: the
    dataset's, for a model that wraps it."""
    with open(inputs["contract"]) as handle:
        found = json.load(handle)
    if found.get("problems"):
        raise ValueError(f"the contract check of defence {name} failed ({inputs['contract']}): {found['problems']}")
    function = build(entry, WORKFLOW_ROOT, classifier=classifier)
    approximation = build(entry, WORKFLOW_ROOT, key="bpda") if entry.get("bpda") else None
    return UserDefence(name, entry, function, approximation, bool(found["stochastic"]), entry["differentiable"])


def columns(name: str, entry: dict, sources: dict) -> dict:
    """A user defence's columns in the tables: what it is, its settings and the sha256 of its
    files, beside the cells' family, denoising, stp and alpha (empty here)."""
    row = {"cell": name, "family": "user", "denoising": None, "stp": None, "alpha": None}
    row.update(defence_callable=entry["callable"], defence_returns=entry["returns"])
    row.update({f"defence_{k}": v for k, v in sorted((entry.get("settings") or {}).items())})
    row.update(defence_source_sha256=sources["defence_source_sha256"])
    row.update(defence_checkpoint_sha256=sources["defence_checkpoint_sha256"])
    return row


@dataclass
class Defence:
    """One defended model, checked to be what the job expects, and the sha256 of every file
    it was loaded from: a cell (classifier and autoencoder), the undefended classifier
    (autoencoder None), or a defence of the user's own (user; its classifier None where it
    is a whole model). Every job reaches the model the same way: model()."""

    classifier: Classifier | None
    classifier_settings: dict | None
    autoencoder: object | None
    autoencoder_settings: dict | None
    sources: dict  # the sha256 of the classifier, autoencoder or defence files, and test data
    user: UserDefence | None = None

    def to(self, device) -> Defence:
        """Every module of the defence on `device` (a user's plain function follows its input)."""
        user = self.user
        for part in (self.classifier, self.autoencoder, user and user.function, user and user.approximation):
            if isinstance(part, torch.nn.Module):
                part.to(device)
        return self

    def fast_forward(self, device) -> Defence:
        """The defence as attack and evaluation jobs run it where config.yaml's fast_forward is
        on (models.fast_forward_form). A user's own modules are left as they are (a model of the user's that
        wraps the classifier keeps the classifier it was built with); a purifier is stacked on
        the folded classifier. Call it after to(device)."""
        self.classifier, self.autoencoder = fast_forward_form(self.classifier, self.autoencoder, device)
        return self

    def columns(self) -> dict | None:
        """A user defence's columns in the tables (None for a cell: results.cell_columns)."""
        if self.user is None:
            return None
        return columns(self.user.name, self.user.entry, self.sources)

    def samples_at(self, scale: float) -> bool:
        """Whether the defence draws anew on every forward pass at this latent scale."""
        if self.user is not None:
            return self.user.stochastic
        return is_stochastic(self.autoencoder.family if self.autoencoder is not None else None, scale)

    def model(self, scale: float = 0.0, generator=None, *, attack: bool = False):
        """The defence as one module: a VAE samples its code at `scale` from `generator` (scale
        0: the mean); a user defence draws from torch's generator, and is behind BPDA for an
        attack where it is not differentiable."""
        if self.user is not None:
            return self.user.model(self.classifier, attack=attack)
        return DefendedModel(self.classifier, self.autoencoder, "sample", scale, generator)
