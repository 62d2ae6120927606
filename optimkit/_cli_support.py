"""What the ``optimkit`` commands share: the one error type, output-path checks made before any
long work, "did you mean" for names, and the example configs shipped inside the package.

Example:
    >>> from optimkit._cli_support import similar_names
    >>> similar_names("cos", ["steplr", "cosineannealinglr", "cosineannealingwarmrestarts"])
    ['cosineannealinglr', 'cosineannealingwarmrestarts']
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path

__all__ = [
    "DEFAULT_PLOT_DIR",
    "CLIError",
    "check_output_dir",
    "check_output_file",
    "example_configs",
    "resolve_config",
    "similar_names",
]

DEFAULT_PLOT_DIR = Path("optimkit-plots")
"""Where ``plot`` and ``lr-find`` put their images without ``--out`` (in the current folder, like
the demo's ``optimkit-demo/``; both are in the project's ``.gitignore``)."""


class CLIError(Exception):
    """A mistake in the user's input: printed as one line, exit status 2."""


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------


def _plain(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def similar_names(name: str, choices: Iterable[str], n: int = 5) -> list[str]:
    """The registered names a user most likely meant by ``name``, best first, at most ``n``.

    Names that start with ``name`` come first, then names that contain it, then
    :func:`difflib.get_close_matches` for typos; within each, ``choices`` keep their order, so
    pass the preferred namespace's names first.

    Example:
        >>> from optimkit._cli_support import similar_names
        >>> similar_names("adamww", ["adam", "adamw", "sgd"]), similar_names("decay", ["cosinedecaylr", "steplr"])
        (['adamw', 'adam'], ['cosinedecaylr'])
    """
    key = _plain(name)
    names = list(dict.fromkeys(choices))
    if not key:
        return []
    prefix = [c for c in names if c.startswith(key)]
    inside = [c for c in names if key in c and c not in prefix]
    typos = difflib.get_close_matches(key, names, n=n, cutoff=0.5)
    return list(dict.fromkeys(prefix + inside + typos))[:n]


# --------------------------------------------------------------------------------------------
# Output paths: checked before the work, so that a typo costs nothing
# --------------------------------------------------------------------------------------------


def _image_formats() -> dict[str, str]:
    """File extensions matplotlib can write here -> their description."""
    from matplotlib.backend_bases import FigureCanvasBase

    formats = dict(FigureCanvasBase.get_supported_filetypes())
    if not any(shutil.which(tex) for tex in ("lualatex", "xelatex", "pdflatex")):
        formats.pop("pgf", None)  # listed, but fails at save time without a TeX installation
    return formats


def _nearest_existing(path: Path) -> Path:
    """``path`` itself or its closest ancestor that exists (``.`` for a bare relative name)."""
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate == Path(candidate.anchor or "."):
            return candidate
    return Path(".")


def _probe_folder(folder: Path, option: str, out: str) -> None:
    """Raise :class:`CLIError` unless ``folder`` (or, if it is missing, its nearest existing
    ancestor) is a folder in which this process can create files and folders.

    The check creates and removes a temporary folder: permission bits do not tell the truth for
    the superuser, on read-only mounts or in ``/proc``.
    """
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise CLIError(f"{option} {out}: {existing} is a file, not a folder")
    try:
        probe = tempfile.mkdtemp(prefix=".optimkit-probe-", dir=existing)
    except OSError as err:
        raise CLIError(f"{option} {out}: cannot write into {existing} ({err.strerror or err})") from None
    os.rmdir(probe)


def check_output_file(out: str | None, default_name: str, *, default_dir: Path = DEFAULT_PLOT_DIR,
                      option: str = "--out") -> Path:
    """The image file to write: ``out``, or ``default_name`` inside ``out`` when that is a folder
    (existing, or written with a trailing ``/``), or inside ``default_dir`` without ``out``.

    Raises:
        CLIError: when matplotlib cannot write that extension, or the file's folder cannot be
            created or written; the folder itself is created later, by whoever saves.

    Example:
        >>> from optimkit._cli_support import check_output_file
        >>> check_output_file("x.jpgg", "steplr.png")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        optimkit._cli_support.CLIError: --out x.jpgg: matplotlib cannot write .jpgg files; use one of .png, .pdf, .svg, ...
        >>> str(check_output_file(None, "steplr.png"))
        'optimkit-plots/steplr.png'
    """
    if out is None:
        path = default_dir / default_name
        shown = str(path)
    else:
        shown = out
        path = Path(out).expanduser()
        if path.is_dir() or out.endswith(("/", os.sep)):
            path = path / default_name
    formats = _image_formats()
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in formats:
        what = f"matplotlib cannot write .{suffix} files" if suffix else "the file name has no extension"
        known = ", ".join(f".{ext}" for ext in ("png", "pdf", "svg", *sorted(set(formats) - {"png", "pdf", "svg"})))
        raise CLIError(f"{option} {shown}: {what}; use one of {known}")
    _probe_folder(path.parent, option, shown)
    if path.exists():
        try:
            with open(path, "ab"):  # opened for appending: checks the permission, changes nothing
                pass
        except OSError as err:
            raise CLIError(f"{option} {shown}: cannot write {path} ({err.strerror or err})") from None
    return path


def check_output_dir(out: str, *, option: str = "--out") -> Path:
    """The folder to write into: it may not exist yet, but it must be creatable and writable.

    Example:
        >>> import tempfile
        >>> from optimkit._cli_support import check_output_dir
        >>> with tempfile.NamedTemporaryFile(suffix=".png") as existing:
        ...     check_output_dir(existing.name)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        optimkit._cli_support.CLIError: --out ....png: is a file, not a folder
    """
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise CLIError(f"{option} {out}: is a file, not a folder")
    _probe_folder(path, option, out)
    return path


# --------------------------------------------------------------------------------------------
# Configs, and the examples shipped inside the package
# --------------------------------------------------------------------------------------------


def _packaged_examples() -> list[resources.abc.Traversable]:
    folder = resources.files("optimkit") / "examples"
    if not folder.is_dir():
        return []
    return sorted((f for f in folder.iterdir() if f.name.endswith((".yaml", ".yml"))), key=lambda f: f.name)


@contextlib.contextmanager
def example_configs() -> Iterator[list[Path]]:
    """The example configs that ship inside the package (``optimkit/examples/*.yaml``), as real
    files for as long as the ``with`` block lasts (extracted when the package is zipped).

    Example:
        >>> from optimkit._cli_support import example_configs
        >>> with example_configs() as paths:
        ...     [p.name for p in paths]
        ['adamw_gmp_sparse.yaml', 'adamw_schedulefree.yaml', 'adamw_warmup_cosine.yaml', 'lamb_cosine_decay.yaml', 'sgd_onecycle.yaml']
    """
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(resources.as_file(f)) for f in _packaged_examples()]


def resolve_config(path: str, stack: contextlib.ExitStack) -> str:
    """``path`` itself when it names a file; the shipped example for ``examples/NAME.yaml`` when
    there is no such file here (the README's commands work after a plain ``pip install``).

    Raises:
        CLIError: for a folder, or a file that does not exist (naming the examples when close).

    Example:
        >>> import contextlib
        >>> from optimkit._cli_support import resolve_config
        >>> with contextlib.ExitStack() as stack:
        ...     Path(resolve_config("examples/sgd_onecycle.yaml", stack)).name
        'sgd_onecycle.yaml'
    """
    candidate = Path(path).expanduser()
    if candidate.is_dir():
        raise CLIError(f"{path}: is a folder, not a config file (give a .yaml file in it)")
    if candidate.is_file():
        return path
    shipped = {f.name: f for f in _packaged_examples()}
    parts = Path(path).parts
    if len(parts) == 2 and parts[0] == "examples" and parts[1] in shipped:
        return str(stack.enter_context(resources.as_file(shipped[parts[1]])))
    close = similar_names(Path(path).stem, [Path(n).stem for n in shipped], n=3) if parts[:1] == ("examples",) else []
    hint = f"; the shipped examples are {', '.join(f'examples/{n}.yaml' for n in close)}" if close else ""
    raise CLIError(f"{path}: no such config file{hint}")
