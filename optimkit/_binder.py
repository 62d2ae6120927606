"""One binder from config mappings to constructor arguments, and the one config error type.

Every front end that builds an object from user-written keys (YAML configs in both styles,
Cerebras' ``configure_optimizer`` and schedule factories, ``optimkit plot NAME key=value``) goes
through :func:`bind`:

* every key is checked against the constructor's signature (``inspect.signature``): an unknown
  key is an error that names the closest valid key and lists them all; a required argument that
  is missing is an error too;
* each value is coerced from the argument's annotation (string annotations of modules with
  ``from __future__ import annotations`` are resolved): a string holding a number for a numeric
  argument (YAML 1.1 reads ``1e-3`` as a string), a list for a tuple (``betas: [0.9, 0.99]``),
  element by element inside tuples and lists, through ``Optional`` and unions such as
  ``float | Tensor``, a quoted ``"true"`` for a ``bool``, and a check of ``Literal`` choices.

Coercion is deliberately *lossless*: a value is only converted when it cannot be what the
annotation asks for as it is and a YAML-style reading fixes that. Everything else reaches the
constructor unchanged, so its own checks and messages stay in charge: an ``int`` argument given
``2.0`` gets ``2.0``, a ``float`` argument given ``1`` gets ``1``, ``True`` or a tensor, and an
``Iterable`` argument keeps its list. (pydantic's lax mode was tried for this and rejected: it
turns ``2.0`` into ``2``, ``True`` into ``1.0``, a float tensor into a Python float, an
``Iterable`` into a one-shot iterator, and refuses ``"1e3"`` for an ``int``.)

Errors are :class:`ConfigError`, a ``ValueError`` that carries the key path of the bad value
(``("scheduler", "schedulers", 1, "T_max")``), the valid choices and the close ones; a loader
that knows the file adds ``path:line:`` with :meth:`ConfigError.at`.

Example:
    >>> from optimkit._binder import bind
    >>> from optimkit.optim import Adam
    >>> bind(Adam, {"lr": "1e-3", "betas": [0.9, 0.99]}, skip=("params",))
    {'lr': 0.001, 'betas': (0.9, 0.99)}
    >>> bind(Adam, {"lr": 0.1, "betaz": [0.9, 0.99]}, skip=("params",), path=("optimizer",))
    Traceback (most recent call last):
    ...
    optimkit.config.ConfigError: optimizer: Adam got an unknown key 'betaz'; valid keys: lr, betas, eps, weight_decay, amsgrad, foreach, maximize, capturable, differentiable, fused, decoupled_weight_decay, state_dtype, stochastic_rounding (did you mean 'betas'?)
"""

from __future__ import annotations

import collections.abc as cabc
import difflib
import inspect
import numbers
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from .registry import UnknownNameError

__all__ = [
    "ArgumentError",
    "ConfigError",
    "KeyPath",
    "UnknownName",
    "Wording",
    "bind",
    "check_keys",
    "close_keys",
    "coerce",
    "construct",
    "render_path",
    "unknown_name",
]

KeyPath = tuple[Any, ...]
"""Where a value sits in a config: mapping keys (``str``) and list indices (``int``)."""

_E = TypeVar("_E", bound="ConfigError")


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def render_path(path: Iterable[Any]) -> str:
    """``path`` as written in messages: ``learning_rate.schedulers[1]``, ``adjust_learning_rate['1.']``
    (the first key is a label and is written as it is).

    Example:
        >>> render_path(("scheduler", "schedulers", 1, "T_max")), render_path(("adjust", "1."))
        ('scheduler.schedulers[1].T_max', "adjust['1.']")
    """
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif not out:
            out = str(part)
        elif isinstance(part, str) and part.isidentifier():
            out += f".{part}"
        else:
            out += f"[{part!r}]"
    return out


class ConfigError(ValueError):
    """A config that cannot be used.

    Attributes:
        message: what is wrong, without the location.
        path: the key path of the bad value in the config, outermost first (may be empty).
        choices: the valid keys or names, when the error is about one of them.
        close: the choices closest to what was written, best first.
        file, line: where the config came from, once a loader has located the error
            (:meth:`at`); ``str()`` is then ``file:line: message``.
        others: the config's further mistakes, in file order, when the loader looked for them
            (:func:`optimkit.config.load` does; the error itself is the first in the file).
    """

    others: tuple[ConfigError, ...] = ()

    def __init__(
        self,
        message: str,
        *,
        path: Iterable[Any] = (),
        choices: Iterable[str] | None = None,
        close: Iterable[str] = (),
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.path: KeyPath = tuple(path)
        self.choices = None if choices is None else list(choices)
        self.close = list(close)
        self.file = file
        self.line = line
        # Not super(): in UnknownName the next class is the registry's error, with other arguments.
        Exception.__init__(self, self._text())

    def _text(self) -> str:
        if self.file is None:
            return self.message
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"

    def __str__(self) -> str:  # explicit: a subclass that is also a KeyError must not quote it
        return self._text()

    def _evolve(self: _E, **changes: Any) -> _E:
        """A copy (same class) with some attributes changed."""
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        new.args = (new._text(),)
        return new

    def within(self: _E, *prefix: Any) -> _E:
        """The same error seen from an enclosing section: ``prefix`` goes in front of the path.

        Example:
            >>> ConfigError("bad", path=("beta1",)).within("optimizer").path
            ('optimizer', 'beta1')
        """
        return self._evolve(path=tuple(prefix) + self.path)

    def at(self: _E, file: str, line: int | None) -> _E:
        """The same error located in ``file`` (at ``line`` when known); a located error stays
        where it is."""
        return self if self.file is not None else self._evolve(file=file, line=line)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.__dict__.copy()))


def _restore(cls: type[ConfigError], state: dict[str, Any]) -> ConfigError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    error.args = (error._text(),)
    return error


# The public home of the class is optimkit.config (tracebacks and doctests print this name).
ConfigError.__module__ = "optimkit.config"


class ArgumentError(ConfigError, TypeError):
    """A bad argument for a callable built by name (``optimkit plot NAME k=v``): a
    :class:`ConfigError`, and a ``TypeError`` as Python's own errors for bad call arguments."""


class UnknownName(ConfigError, UnknownNameError):
    """The registry's :class:`~optimkit.registry.UnknownNameError` at a key path of a config: a
    :class:`ConfigError` that is still a ``KeyError`` with ``name``, ``choices`` and ``close``."""

    name: str = ""


def unknown_name(error: UnknownNameError, path: Iterable[Any], prefix: str = "") -> UnknownName:
    """``error`` (from ``Registry.resolve``) as a :class:`ConfigError` at ``path``, its message
    after ``prefix``."""
    wrapped = UnknownName(prefix + error.message, path=path, choices=error.choices, close=error.close)
    wrapped.name = error.name
    return wrapped


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wording:
    """Message templates, so that each front end keeps the wording its users know.

    Fields available to every template: ``at`` (the rendered path and ``": "``, or nothing),
    ``what`` (the class name), ``key`` (as written), ``keys`` (every unknown key), ``valid``,
    ``hint`` (`` (did you mean 'x'?)`` or nothing), ``missing``, ``first`` (the first missing
    key), ``signature`` (``a, b=1``), ``value``, ``expected`` (``a number``, ...), ``advice``
    (of a legacy key) and ``name`` (an argument given twice).
    """

    unknown: str = "{at}{what} got an unknown key {key!r}; valid keys: {valid}{hint}"
    missing: str = "{at}{what} is missing required key(s): {missing}"
    invalid: str = "{at}{what}: {key}={value!r} is not {expected}"
    legacy: str = "{at}{what}: legacy key {key!r}: {advice}"
    twice: str = "{at}{what}: {name!r} given twice (as {name!r} and as an alias)"


_DEFAULT_WORDING = Wording()
_FIELDS = dict.fromkeys(
    ("at", "what", "key", "keys", "valid", "hint", "missing", "first", "signature", "value", "expected", "advice", "name"),
    "",
)


def _say(template: str, **fields: Any) -> str:
    return template.format(**{**_FIELDS, **fields})


def close_keys(key: Any, choices: Iterable[str], n: int = 3) -> list[str]:
    """The ``n`` choices most like ``key``, best first, ignoring case.

    Example:
        >>> close_keys("Momentom", ["lr", "momentum", "dampening"])
        ['momentum']
    """
    by_lower: dict[str, str] = {}
    for choice in choices:
        by_lower.setdefault(choice.lower(), choice)
    return [by_lower[c] for c in difflib.get_close_matches(str(key).lower(), list(by_lower), n=n, cutoff=0.6)]


def _hint(close: Sequence[str]) -> str:
    return f" (did you mean {close[0]!r}?)" if close else ""


def _at(path: KeyPath) -> str:
    return f"{render_path(path)}: " if path else ""


def check_keys(
    given: Iterable[Any],
    valid: Sequence[str],
    *,
    path: KeyPath = (),
    what: str = "",
    wording: Wording = _DEFAULT_WORDING,
    error: type[ConfigError] = ConfigError,
) -> None:
    """Raise ``error`` for the first key of ``given`` that is not in ``valid`` (its path is that
    key's), naming the closest valid key.

    Example:
        >>> check_keys(["optimizer", "schedular"], ["optimizer", "scheduler"],
        ...            wording=Wording(unknown="unknown key {key!r}{hint}"))
        Traceback (most recent call last):
        ...
        optimkit.config.ConfigError: unknown key 'schedular' (did you mean 'scheduler'?)
    """
    keys = list(given)
    unknown = [k for k in keys if k not in valid]
    if not unknown:
        return
    key = unknown[0]
    close = close_keys(key, valid)
    message = _say(wording.unknown, at=_at(path), what=what, key=key, keys=", ".join(map(repr, unknown)),
                   valid=", ".join(valid), hint=_hint(close))
    raise error(message, path=path + (key,), choices=valid, close=close)


# --------------------------------------------------------------------------------------------
# Signatures and annotations
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Argument:
    name: str
    kind: Any
    default: Any
    annotation: Any  # a resolved type, or _UNKNOWN

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty


_UNKNOWN: Any = object()
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


@lru_cache(maxsize=512)
def _arguments(target: Callable[..., Any]) -> tuple[_Argument, ...]:
    """The named arguments of ``target`` (a class: its ``__init__`` after ``self``), with their
    annotations resolved."""
    if isinstance(target, type):
        # The constructor's own signature, not inspect.signature(cls): a class may define
        # __new__ or a metaclass __call__ with another signature than the arguments it binds.
        function: Any = target.__init__
        parameters = list(inspect.signature(function).parameters.values())[1:]
    else:
        function = target
        parameters = list(inspect.signature(function).parameters.values())
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # an annotation naming something unimportable: resolve one by one below
        hints = {}
    namespace = getattr(inspect.unwrap(function), "__globals__", {})
    out = []
    for p in parameters:
        if p.kind in _VARIADIC:
            continue
        annotation = hints.get(p.name, p.annotation)
        if isinstance(annotation, str):
            # A __signature__ set by hand (the *WD twins) keeps its string annotations.
            try:
                annotation = eval(annotation, dict(namespace))  # noqa: S307 - our own source's annotations
            except Exception:
                annotation = inspect.Parameter.empty
        if annotation is inspect.Parameter.empty:
            annotation = _from_default(p.default)
        out.append(_Argument(p.name, p.kind, p.default, annotation))
    return tuple(out)


def _from_default(default: Any) -> Any:
    """The type an unannotated argument wants, guessed from its default."""
    if isinstance(default, (bool, int, float, tuple)):
        return type(default)
    return _UNKNOWN


# --------------------------------------------------------------------------------------------
# Coercion
# --------------------------------------------------------------------------------------------


class _Mismatch(Exception):
    """A value that cannot be what the annotation asks for (internal: becomes a ConfigError)."""

    def __init__(self, value: Any, expected: str, where: KeyPath = (), choices: Sequence[Any] | None = None) -> None:
        super().__init__(expected)
        self.value = value
        self.expected = expected
        self.where = where
        self.choices = choices


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_SEQUENCES = (list, cabc.Sequence, cabc.MutableSequence, cabc.Iterable, cabc.Collection)
_UNIONS: tuple[Any, ...] = (typing.Union, types.UnionType)


def _strip(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _is_literal_member(value: Any, choices: Sequence[Any]) -> bool:
    # True == 1, but a bool is no member of Literal[0, 1] and an int no member of Literal[True].
    return any(value == c and isinstance(value, bool) == isinstance(c, bool) for c in choices)


def _fits(value: Any, annotation: Any) -> bool:
    """Whether ``value`` already is what ``annotation`` asks for (shallowly), for picking the
    arm of a union before any conversion is tried."""
    annotation = _strip(annotation)
    origin = typing.get_origin(annotation) or annotation
    if annotation in (Any, object, _UNKNOWN):
        return True
    if annotation is type(None):
        return value is None
    if origin is typing.Literal:
        return _is_literal_member(value, typing.get_args(annotation))
    if annotation is float:
        return isinstance(value, numbers.Real)  # ints and bools too, as Python's typing has it
    if annotation is int:
        return isinstance(value, numbers.Integral)
    if origin is tuple:
        return isinstance(value, tuple)
    if origin in _SEQUENCES:
        return isinstance(value, (list, tuple)) if origin is not list else isinstance(value, list)
    if origin is cabc.Callable:
        return callable(value)
    if origin in (dict, cabc.Mapping, cabc.MutableMapping):
        return isinstance(value, Mapping)
    if isinstance(origin, type):
        try:
            return isinstance(value, origin)
        except TypeError:
            return False
    return False


def _number(value: str, expected: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise _Mismatch(value, expected) from None


def _at_index(value: Any, annotation: Any, index: int) -> Any:
    try:
        return _coerce(value, annotation)
    except _Mismatch as mismatch:
        mismatch.where = (index,) + mismatch.where
        raise


def _coerce(value: Any, annotation: Any) -> Any:
    """``value`` converted for ``annotation`` where a YAML-style reading is needed; else as is.

    Raises:
        _Mismatch: a string that is not the number or boolean asked for, or a value outside a
            ``Literal``.
    """
    annotation = _strip(annotation)
    if annotation in (Any, object, _UNKNOWN, inspect.Parameter.empty):
        return value
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in _UNIONS:
        if value is None:
            return value  # Optional, or not: the constructor says whether None is welcome
        arms = [a for a in args if a is not type(None)]
        for arm in arms:  # a value that is one of the arms already only has its insides coerced
            if _fits(value, arm):
                return _coerce(value, arm)
        first: _Mismatch | None = None
        for arm in arms:
            try:
                converted = _coerce(value, arm)
            except _Mismatch as mismatch:
                first = first or mismatch
                continue
            if converted is not value:
                return converted
        if first is not None:
            raise first
        return value
    if origin is typing.Literal:
        if _is_literal_member(value, args):
            return value
        raise _Mismatch(value, "one of " + ", ".join(map(repr, args)), choices=args)
    if annotation is bool:
        if isinstance(value, str):
            text = value.strip().lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise _Mismatch(value, "a boolean")
        return value
    if annotation is int:
        if isinstance(value, str):
            try:
                return int(value)  # exact, however many digits
            except ValueError:
                pass
            number = _number(value, "an integer")  # YAML 1.1 reads 1e3 as a string
            if not number.is_integer():
                raise _Mismatch(value, "an integer")
            return int(number)
        return value
    if annotation in (float, complex, numbers.Real, numbers.Number):
        if isinstance(value, str):
            return _number(value, "a number")
        return value
    if origin is tuple or annotation is tuple:
        if isinstance(value, list):
            value = tuple(value)
        if not isinstance(value, tuple) or not args:
            return value
        if len(args) == 2 and args[1] is Ellipsis:
            element_types: Sequence[Any] = [args[0]] * len(value)
        elif len(args) == len(value):
            element_types = args
        else:
            return value  # the wrong length: the constructor's own check says so
        converted = tuple(_at_index(v, t, i) for i, (v, t) in enumerate(zip(value, element_types)))
        return value if all(a is b for a, b in zip(converted, value)) else converted
    if origin in _SEQUENCES and isinstance(value, (list, tuple)) and args:
        items = [_at_index(v, args[0], i) for i, v in enumerate(value)]
        return value if all(a is b for a, b in zip(items, value)) else type(value)(items)
    return value


def coerce(value: Any, annotation: Any, *, path: KeyPath = (), error: type[ConfigError] = ConfigError) -> Any:
    """``value`` converted for ``annotation`` as :func:`bind` converts arguments.

    Raises:
        ConfigError: (or ``error``) ``<path>=<value> is not a number`` and the like, at ``path``.

    Example:
        >>> coerce("1e3", int), coerce(["0.9", 0.99], tuple[float, float]), coerce(2.0, int)
        (1000, (0.9, 0.99), 2.0)
        >>> coerce("fast", float | None, path=("optimizer", "lr"))
        Traceback (most recent call last):
        ...
        optimkit.config.ConfigError: optimizer.lr='fast' is not a number
    """
    try:
        return _coerce(value, annotation)
    except _Mismatch as mismatch:
        where = path + mismatch.where
        choices = None if mismatch.choices is None else [str(c) for c in mismatch.choices]
        close = close_keys(mismatch.value, choices) if choices and isinstance(mismatch.value, str) else []
        raise error(f"{render_path(where)}={mismatch.value!r} is not {mismatch.expected}{_hint(close)}",
                    path=where, choices=choices, close=close) from None


# --------------------------------------------------------------------------------------------
# Binding
# --------------------------------------------------------------------------------------------


def bind(
    target: Callable[..., Any],
    given: Mapping[Any, Any],
    *,
    skip: Iterable[str] = (),
    aliases: Mapping[str, str] | None = None,
    legacy: Mapping[str, tuple[str, str]] | None = None,
    consumed: Sequence[str] = (),
    path: KeyPath = (),
    what: str | None = None,
    wording: Wording = _DEFAULT_WORDING,
    error: type[ConfigError] = ConfigError,
) -> dict[str, Any]:
    """The keyword arguments for ``target`` (a class: its constructor) from the config mapping
    ``given``: every key checked, every required argument present, every value coerced from its
    annotation (see the module docstring).

    Args:
        target: the class or callable the arguments are for.
        given: config key -> value.
        skip: arguments the caller fills itself (``params``, ``optimizer``): never config keys.
        aliases: config key -> argument name (Cerebras' ``learning_rate`` for ``lr``).
        legacy: old config key -> (the argument that replaced it, advice): when the argument
            exists, the old key gets the advice instead of "unknown key".
        consumed: keys of the section that the caller reads itself (``name``), listed first
            among the valid keys.
        path: where ``given`` sits in the config; errors are at ``path`` plus the key.
        what: the name in messages (default: ``target.__name__``).
        wording: the message templates.
        error: the class raised, a :class:`ConfigError`.

    Returns:
        Argument name -> value, in the order of ``given``.

    Raises:
        ConfigError: (``error``) an unknown key (with the closest valid one), a legacy key, a key
            given twice through an alias, a missing required argument, or a value that cannot
            be coerced (``lr='fast' is not a number``).
    """
    what = what or getattr(target, "__name__", repr(target))
    aliases = aliases or {}
    legacy = legacy or {}
    skipped = set(skip)
    accepted = {a.name: a for a in _arguments(target) if a.name not in skipped}
    at = _at(path)
    valid = [*consumed, *accepted, *(alias for alias, name in aliases.items() if name in accepted)]

    names: dict[str, Any] = {}  # argument name -> the config key it came from
    for key in given:
        name = key if key in accepted else aliases.get(key, key) if isinstance(key, str) else key
        if name not in accepted:
            if key in legacy and legacy[key][0] in accepted:
                raise error(_say(wording.legacy, at=at, what=what, key=key, advice=legacy[key][1]),
                            path=path + (key,), choices=valid)
            check_keys([key] + [k for k in given if k != key], valid, path=path, what=what, wording=wording, error=error)
        if name in names:
            raise error(_say(wording.twice, at=at, what=what, name=name), path=path + (key,))
        names[name] = key

    missing = [n for n, a in accepted.items() if a.required and n not in names]
    if missing:
        signature = ", ".join(n if a.required else f"{n}={a.default!r}" for n, a in accepted.items())
        raise error(_say(wording.missing, at=at, what=what, missing=", ".join(missing), first=missing[0],
                         signature=signature, valid=", ".join(valid)), path=path, choices=valid)

    out: dict[str, Any] = {}
    for name, key in names.items():
        value = given[key]
        try:
            out[name] = _coerce(value, accepted[name].annotation)
        except _Mismatch as mismatch:
            shown = f"{name}{render_path(mismatch.where)}"  # the argument's name, even given by an alias
            choices = None if mismatch.choices is None else [str(c) for c in mismatch.choices]
            close = close_keys(mismatch.value, choices) if choices and isinstance(mismatch.value, str) else []
            message = _say(wording.invalid, at=at, what=what, key=shown, value=mismatch.value,
                           expected=mismatch.expected + _hint(close))
            raise error(message, path=path + (key,) + mismatch.where, choices=choices, close=close) from None
    return out


def construct(target: Callable[..., Any], *args: Any, path: KeyPath = (), **kwargs: Any) -> Any:
    """``target(*args, **kwargs)``, a ``ValueError`` or ``TypeError`` of its own checks becoming
    a :class:`ConfigError` at ``path`` with the same message (so that a loader can point at
    the line of the section that built it)."""
    try:
        return target(*args, **kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        raise ConfigError(str(message), path=path) from exc
