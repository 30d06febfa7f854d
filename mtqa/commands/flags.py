"""Command-line flags generated from the job config model (:mod:`mtqa.config`).

Why: the config model is the one place where a setting is described, typed, bounded and
given its default. A flag written out by hand drifts from it: its help keeps saying
"default 5.0" after the default moved, or its choices miss a new value. Here a flag is one
table line, ``Flag("--batch-size", "model.batch_size")``, and its help, type, choices and the
default shown in ``--help`` come from the pydantic field. Bounds (``ge=1`` and the like) are
left to pydantic, so a bad value is the same one-line config error whether it came from a
YAML file or from a flag.
"""

from __future__ import annotations

import argparse
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

if TYPE_CHECKING:  # pydantic is imported when a parser is built, not when a command module is
    from pydantic import BaseModel
    from pydantic.fields import FieldInfo


@dataclass(frozen=True)
class Flag:
    """One command-line flag that sets one config key.

    ``const``: the value a value-less flag stores (``--no-progress`` stores ``False`` into
    ``progress``); bool fields default to ``True``. ``extra_help`` is appended to the field's
    description (what only matters on the command line). ``options`` go to ``add_argument``
    as they are and win over what the field implies (e.g. a custom ``type``).
    """

    name: str
    key: str
    short: str | None = None
    const: Any = None
    extra_help: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def dest(self) -> str:
        return self.options.get("dest") or self.name.lstrip("-").replace("-", "_")


def config_field(model: type[BaseModel], key: str) -> FieldInfo:
    """The pydantic field behind a dotted key (``model.batch_size``); KeyError names the key."""
    from pydantic import BaseModel

    node: type[BaseModel] = model
    parts = key.split(".")
    for i, part in enumerate(parts):
        if part not in node.model_fields:
            raise KeyError(f"{key}: no such config key ({part!r} is not a field of {node.__name__})")
        info = node.model_fields[part]
        if i == len(parts) - 1:
            return info
        sub = _strip_optional(info.annotation)
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            raise KeyError(f"{key}: {'.'.join(parts[:i + 1])} is not a section")
        node = sub
    raise KeyError(key)  # unreachable: split() gives at least one part


def _strip_optional(annotation: Any) -> Any:
    """``int | None`` -> ``int``: a flag either sets the value or leaves the config's."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _default_text(info: FieldInfo) -> str | None:
    default = info.get_default(call_default_factory=True)
    if default is None or isinstance(default, bool) or default == []:
        return None  # None: the description says what happens; a bool flag's default is "off"
    return str(default)


def argument_options(flag: Flag, info: FieldInfo) -> dict[str, Any]:
    """``add_argument`` keyword arguments for one flag, from its field."""
    annotation = _strip_optional(info.annotation)
    opts: dict[str, Any] = {"dest": flag.dest, "default": None}  # None: "not given", the config decides
    item = annotation
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        opts |= {"action": "extend", "nargs": "+"}
    if annotation is bool:
        opts |= {"action": "store_const", "const": True if flag.const is None else flag.const}
    elif get_origin(item) is Literal:
        choices = list(get_args(item))
        opts |= {"choices": choices, "type": type(choices[0])}
    elif item in (int, float):
        opts["type"] = item
    if "type" in flag.options:
        opts.pop("choices", None)  # a custom type parses (and checks) the values itself

    help_text = info.description or flag.key
    if flag.extra_help:
        help_text += f" {flag.extra_help}"
    default = _default_text(info)
    if default is not None and annotation is not bool and "default" not in help_text:
        help_text += f" (default: {default})"
    opts["help"] = help_text.replace("%", "%%")  # argparse %-formats help strings
    return opts | dict(flag.options)


def add_config_flags(parser: argparse.ArgumentParser, flags: Sequence[Flag], model: type[BaseModel],
                     groups: Mapping[str, str] | None = None) -> None:
    """Add ``flags`` to ``parser``; a flag whose key starts with a ``groups`` section
    (``model.``) goes under that heading in ``--help``."""
    sections: dict[str, Any] = {}
    for flag in flags:
        section = flag.key.split(".")[0] if "." in flag.key else ""
        target: Any = parser
        if groups and section in groups:
            if section not in sections:
                sections[section] = parser.add_argument_group(groups[section])
            target = sections[section]
        names = [flag.short, flag.name] if flag.short else [flag.name]
        target.add_argument(*names, **argument_options(flag, config_field(model, flag.key)))


def config_overrides(args: argparse.Namespace, flags: Sequence[Flag]) -> dict[str, Any]:
    """Dotted config key -> the flag's value (None where the flag was not given)."""
    return {flag.key: getattr(args, flag.dest) for flag in flags}
