"""Registry of problem kinds and solver methods, and option parsing.

A family registers its problem class with :func:`register_kind` and each
method with :func:`register_method`; ``dopt.solve`` and the CLI look both up
here, so unknown names are reported with the list of valid ones. Families are
the subpackages named in ``FAMILIES``; each is imported the first time one of
its kinds or methods is asked for, so ``import dopt`` stays light.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dopt.core.errors import MethodError

if typing.TYPE_CHECKING:
    from dopt.core.problem import Problem


@dataclass(frozen=True)
class MethodSpec:
    """What the registry knows of one method."""

    name: str
    kind: str
    devices: tuple[str, ...]
    options: type
    run: Callable[..., Any]
    summary: str
    default: bool = False
    requires: tuple[str, ...] = ()

    def missing_requirements(self) -> list[str]:
        """Importable modules this method needs that are not installed."""
        return [mod for mod in self.requires if importlib.util.find_spec(mod) is None]

    def option_docs(self) -> list[tuple[str, str, Any, str]]:
        """``(name, type, default, doc)`` for every option."""
        hints = option_types(self.options)
        rows = []
        for f in dataclasses.fields(self.options):
            rows.append((f.name, _type_name(hints[f.name]), f.default, f.metadata.get("doc", "")))
        return rows


FAMILIES = ("dmmv", "quant", "dag", "bcd", "completion")  # subpackages of dopt, one a problem family

_KINDS: dict[str, type[Problem]] = {}
_METHODS: dict[str, MethodSpec] = {}


def _import_family(family: str) -> None:
    """Import ``dopt.<family>`` (registering its kinds and methods) if it exists."""
    if family in FAMILIES and importlib.util.find_spec(f"dopt.{family}") is not None:
        importlib.import_module(f"dopt.{family}")


def _import_all_families() -> None:
    for family in FAMILIES:
        _import_family(family)


def register_kind(problem_cls: type[Problem]) -> type[Problem]:
    """Class decorator: make ``problem_cls`` loadable under ``problem_cls.kind``."""
    _KINDS[problem_cls.kind] = problem_cls
    return problem_cls


def register_method(
    name: str,
    *,
    kind: str,
    options: type,
    summary: str,
    devices: tuple[str, ...] = ("cpu",),
    default: bool = False,
    requires: tuple[str, ...] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering ``run(problem, options, ctx) -> Result`` as method ``name``."""

    def decorate(run: Callable[..., Any]) -> Callable[..., Any]:
        _METHODS[name] = MethodSpec(name, kind, devices, options, run, summary, default, requires)
        return run

    return decorate


def kinds() -> dict[str, type[Problem]]:
    """Registered problem kinds by name."""
    _import_all_families()
    return dict(_KINDS)


def problem_class(kind: str) -> type[Problem]:
    """The problem class of ``kind``, or MethodError naming the known kinds."""
    if kind not in _KINDS:
        _import_family(kind.split(".")[0])
    if kind not in _KINDS:
        raise MethodError(f"unknown problem kind {kind!r}; known kinds: {', '.join(sorted(kinds()))}")
    return _KINDS[kind]


def methods(kind: str | None = None) -> list[MethodSpec]:
    """Registered methods, optionally only those solving ``kind``."""
    if kind is None:
        _import_all_families()
    else:
        _import_family(kind.split(".")[0])
    return [spec for spec in _METHODS.values() if kind is None or spec.kind == kind]


def get_method(name: str | None, kind: str) -> MethodSpec:
    """Look up method ``name`` (or the default of ``kind``) and check it solves ``kind``."""
    candidates = methods(kind)
    if name is not None and name not in _METHODS:
        _import_family(name.split(".")[0])
    if name is None:
        for spec in candidates:
            if spec.default:
                return spec
        raise MethodError(f"no default method for kind {kind!r}")
    if name not in _METHODS:
        valid = ", ".join(spec.name for spec in candidates)
        raise MethodError(f"unknown method {name!r}; methods for {kind!r}: {valid}")
    spec = _METHODS[name]
    if spec.kind != kind:
        valid = ", ".join(s.name for s in candidates)
        raise MethodError(f"method {name!r} solves {spec.kind!r} problems, not {kind!r}; use one of: {valid}")
    missing = spec.missing_requirements()
    if missing:
        raise MethodError(f"method {name!r} needs {', '.join(missing)}: pip install 'dopt[bench]'")
    return spec


@functools.cache
def option_types(options: type) -> dict[str, Any]:
    """The resolved field types of an options class, computed once (resolving them costs ~0.1 ms a call)."""
    return typing.get_type_hints(options)


def build_options(spec: MethodSpec, values: Mapping[str, Any]) -> Any:
    """The method's options dataclass filled from ``values`` (strings are parsed).

    Unknown names and values of the wrong type raise MethodError listing what is valid.
    """
    hints = option_types(spec.options)
    fields = {f.name: f for f in dataclasses.fields(spec.options)}
    parsed: dict[str, Any] = {}
    for key, raw in values.items():
        if key not in fields:
            valid = ", ".join(fields) or "(none)"
            raise MethodError(f"unknown option {key!r} for method {spec.name}; valid options: {valid}")
        parsed[key] = _coerce(spec.name, key, hints[key], raw)
    options = spec.options(**parsed)
    validate = getattr(options, "validate", None)
    if validate is not None:
        try:
            validate()
        except ValueError as exc:
            raise MethodError(f"method {spec.name}: {exc}") from None
    return options


def _type_name(tp: Any) -> str:
    args = typing.get_args(tp)
    if typing.get_origin(tp) is typing.Literal:
        return "|".join(repr(a) for a in args)
    if args:
        return " | ".join(_type_name(a) for a in args)
    if tp is type(None):
        return "None"
    return getattr(tp, "__name__", str(tp))


def _coerce(method: str, key: str, tp: Any, raw: Any) -> Any:
    """Convert ``raw`` (a string from the CLI or a Python value) to type ``tp``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    where = f"option {key!r} of method {method}"
    if origin is typing.Literal:
        for choice in args:
            if raw == choice or (isinstance(raw, str) and not isinstance(choice, str) and raw == str(choice)):
                return choice
        raise MethodError(f"{where}: {raw!r} is not one of {', '.join(repr(a) for a in args)}")
    if args:  # a union such as float | None
        if raw is None or (isinstance(raw, str) and raw.lower() == "none"):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(method, key, arg, raw)
            except MethodError as exc:
                errors.append(str(exc))
        raise MethodError(errors[-1] if errors else f"{where}: invalid value {raw!r}")
    if tp is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in {"true", "1", "yes", "on", "false", "0", "no", "off"}:
            return raw.lower() in {"true", "1", "yes", "on"}
        raise MethodError(f"{where}: expected true or false, got {raw!r}")
    if tp in (int, float):
        if isinstance(raw, bool):
            raise MethodError(f"{where}: expected {tp.__name__}, got {raw!r}")
        try:
            value = tp(raw)
        except (TypeError, ValueError):
            raise MethodError(f"{where}: expected {tp.__name__}, got {raw!r}") from None
        if tp is int and isinstance(raw, float) and raw != int(raw):
            raise MethodError(f"{where}: expected an integer, got {raw!r}")
        return value
    if tp is str:
        return str(raw)
    return raw


def option(default: Any, doc: str) -> Any:
    """A dataclass field for an options class: its default and one line of documentation."""
    return dataclasses.field(default=default, metadata={"doc": doc})
