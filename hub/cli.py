"""Command-line flags generated from typed settings dataclasses, so a setting is declared once.

Each field becomes ``--field-name``; its ``--help`` text is the field's docstring (the string literal under
it, as in this project's dataclasses) or ``metadata["help"]``. Types map to argparse as follows: ``int``,
``float``, ``str``, ``Path``; ``Literal[...]`` gives choices; ``X | None`` also accepts ``none``; a
``tuple[X, ...]`` takes several values, space- or comma-separated; ``bool`` is a ``--flag / --no-flag``
switch, or with ``bool_values=True`` takes ``true``/``false``. ``metadata["choices"]`` restricts a string.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
import textwrap
import types
import typing
from collections.abc import Callable, Collection, Mapping
from typing import Any, Literal, TypeVar

T = TypeVar("T")
Parser = argparse.ArgumentParser | argparse._ArgumentGroup


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> its docstring (whitespace folded) for a dataclass and its dataclass bases."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        except (OSError, TypeError, SyntaxError):
            continue
        for node, following in itertools.pairwise(body):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)):
                docs[node.target.id] = " ".join(following.value.value.split())
    for f in dataclasses.fields(cls):
        if "help" in f.metadata:
            docs[f.name] = f.metadata["help"]
    return docs


def _tuple_items(convert: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    def parse(text: str) -> list[Any]:
        return [convert(part) for part in text.split(",") if part.strip()]

    return parse


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return lowered in ("1", "true", "yes", "on")


def _argument(annotation: Any, bool_values: bool) -> dict[str, Any]:
    """argparse keyword arguments for one field annotation."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = _argument(next(a for a in args if a is not type(None)), bool_values)
        convert = inner.get("type", str)
        return {**inner, "type": lambda text: None if text.lower() == "none" else convert(text)}
    if origin is Literal:
        return {"type": type(args[0]), "choices": list(args)}
    if origin is tuple:
        return {"type": _tuple_items(args[0]), "nargs": "*"}
    if annotation is bool:
        return {"type": _boolean, "metavar": "{true,false}"} if bool_values else {
            "action": argparse.BooleanOptionalAction}
    return {"type": annotation}


def _is_tuple(annotation: Any) -> bool:
    return typing.get_origin(annotation) is tuple or any(typing.get_origin(a) is tuple
                                                         for a in typing.get_args(annotation))


def add_dataclass_arguments(parser: Parser, cls: type, *, defaults: Mapping[str, Any] | None = None,
                            exclude: Collection[str] = (), flags: Mapping[str, str] | None = None,
                            required: Collection[str] = (), keep_unset: bool = False,
                            bool_values: bool = False) -> None:
    """One flag per field of ``cls``; ``defaults`` replace the dataclass defaults, ``flags`` the flag names.

    ``keep_unset``: a flag left out sets nothing (for overrides on top of a base instance, see
    :func:`dataclass_from_args`); otherwise it takes the default.
    """
    hints, docs = typing.get_type_hints(cls), field_docs(cls)
    defaults, flags = defaults or {}, flags or {}
    for f in dataclasses.fields(cls):
        if f.name in exclude or not f.init:
            continue
        kwargs = _argument(hints[f.name], bool_values)
        if "choices" in f.metadata:
            kwargs["choices"] = list(f.metadata["choices"])
        default = defaults.get(f.name, f.default if f.default is not dataclasses.MISSING else None)
        if f.default_factory is not dataclasses.MISSING and f.name not in defaults:
            default = f.default_factory()
        help_text = docs.get(f.name, "")
        if f.name in required:
            kwargs["required"] = True
        elif keep_unset:
            kwargs["default"] = argparse.SUPPRESS
        else:
            kwargs["default"] = default
            if kwargs.get("action") is not argparse.BooleanOptionalAction:
                shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
                help_text = f"{help_text} (default: {shown})" if help_text else f"default: {shown}"
        flag = flags.get(f.name, f"--{f.name.replace('_', '-')}")
        parser.add_argument(flag, dest=f.name, help=help_text.replace("%", "%%"), **kwargs)


def dataclass_from_args(cls: type[T], args: argparse.Namespace, *, base: T | None = None,
                        exclude: Collection[str] = ()) -> T:
    """An instance of ``cls`` from parsed flags (on top of ``base`` when given: only the flags that were set)."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in exclude or not f.init or not hasattr(args, f.name):
            continue
        value = getattr(args, f.name)
        if _is_tuple(hints[f.name]) and value is not None:  # several flags' values, each maybe comma-separated
            items = [v for part in value for v in (part if isinstance(part, list) else [part])]
            value = None if items == [None] else tuple(items)
        values[f.name] = value
    return dataclasses.replace(base, **values) if base is not None else cls(**values)
