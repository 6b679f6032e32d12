"""One entry of a sweep file: its key, its value, a search distribution, a number or a mapping, each
checked against the config it will set. A bad entry is a :class:`GVError` naming the file, the key
and the problem; ``schema`` checks the document around them.
"""

from __future__ import annotations

from typing import Any

from ..config import BUDGET_KINDS, Config, flatten, get_value, set_value
from ..errors import GVError
from .spec import DISTRIBUTIONS, Dimension

# Keys with their own top-level field in a sweep file; setting them in `base` / `search` too would
# leave two places saying different things.
OWN_FIELD = {
    "family": "families",
    "data.name": "dataset",
    "train.seed": "repeats (or seeds)",
    **{f"train.{kind}": "budget" for kind in BUDGET_KINDS},
    "train.eval_every": "eval_every",
}


def fail(source: str, key: str, problem: str) -> GVError:
    return GVError(f"{source}: {key}: {problem}")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_key(source: str, where: str, key: Any) -> str:
    """A dotted config key that a sweep may set in `base` / `search`."""
    if not isinstance(key, str):
        raise fail(source, where, f"key {key!r} is not a dotted config key such as optim.lr")
    if key in OWN_FIELD:
        raise fail(source, f"{where}.{key}", f"set it with the top-level '{OWN_FIELD[key]}' field instead")
    try:
        get_value(Config(), key)
    except GVError as exc:
        raise fail(source, f"{where}.{key}", str(exc)) from None
    return key


def check_value(source: str, where: str, key: str, value: Any) -> Any:
    """A value the config field accepts, coerced as `--set` would (int -> float where declared)."""
    scratch = Config()
    try:
        set_value(scratch, key, value)
    except GVError as exc:
        raise fail(source, where, str(exc)) from None
    return get_value(scratch, key)


def parse_dimension(key: str, raw: Any, section: str, source: str) -> Dimension:
    """One `search` / `scheduler.mutations` entry such as ``{loguniform: [1e-4, 1e-2]}``, checked."""
    where = f"{section}.{key}"
    if not isinstance(raw, dict) or len(raw) != 1:
        raise fail(
            source,
            where,
            f"expected one distribution such as {{choice: [a, b]}}; use one of {', '.join(DISTRIBUTIONS)}",
        )
    kind, args = next(iter(raw.items()))
    if kind not in DISTRIBUTIONS:
        raise fail(source, where, f"unknown distribution '{kind}': use one of {', '.join(DISTRIBUTIONS)}")
    if not isinstance(args, list):
        raise fail(source, where, f"{kind} takes a list, e.g. {{{kind}: [a, b]}}")
    if DISTRIBUTIONS[kind].takes == "values":
        if not args:
            raise fail(source, where, f"{kind} has no values: list at least one")
        values = [check_value(source, where, key, v) for v in args]
        return Dimension(key, kind, values)
    if len(args) != 2 or not all(is_number(v) for v in args):
        raise fail(source, where, f"{kind} takes [low, high] numbers, got {args!r}")
    low, high = args
    if not low < high:
        raise fail(source, where, f"{kind} needs low < high, got [{low}, {high}]")
    if kind == "loguniform" and low <= 0:
        raise fail(source, where, f"loguniform needs low > 0, got {low}")
    if kind == "randint":
        if not (is_int(low) and is_int(high)):
            raise fail(source, where, f"randint takes [low, high] integers (high excluded), got {args!r}")
        check_value(source, where, key, low)
    else:
        # uniform draws are fractional: the key must take a float (an int key wants randint or choice).
        try:
            set_value(Config(), key, 0.5)
        except GVError:
            raise fail(
                source, where, f"{kind} draws fractional numbers but '{key}' is not a float key: use randint or choice"
            ) from None
    return Dimension(key, kind, [low, high])


def fixed_keys(source: str, section: str, raw: Any) -> dict[str, Any]:
    """A base / per_family section: dotted (or nested) keys with values their fields accept."""
    fixed = {}
    for key, value in flatten(mapping(source, section, raw or {})).items():
        check_key(source, section, key)
        fixed[key] = check_value(source, f"{section}.{key}", key, value)
    return fixed


def positive_int(source: str, key: str, value: Any, allow_zero: bool = False) -> int:
    if not is_int(value) or value < 0 or (value == 0 and not allow_zero):
        raise fail(source, key, f"expected an integer {'>= 0' if allow_zero else '>= 1'}, got {value!r}")
    return value


def positive_number(source: str, key: str, value: Any, allow_zero: bool = False) -> float:
    if not is_number(value) or value < 0 or (value == 0 and not allow_zero):
        raise fail(source, key, f"expected a number {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


def string(source: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise fail(source, key, f"expected a non-empty string, got {value!r}")
    return value.strip()


def mapping(source: str, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(source, key, f"expected a mapping (key: value lines), got {type(value).__name__}")
    return value
