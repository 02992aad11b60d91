"""Inputs bounded before they are read: files, YAML, JSON, and what a message may quote of them.

Every file a command reads besides the two input files (parameters, population figures, the
results.json files of ``diff`` and ``pool``) goes through here:

- the path must be a regular file (a named pipe would block, ``/dev/zero`` would never end) no
  larger than a limit, and at most that many bytes are read;
- YAML is composed node by node and refused when it would hold more than ``MAX_YAML_NODES``
  values once its aliases are expanded (a "billion laughs" alias bomb is a few hundred bytes that
  expand to 10^9 values) or refers to itself;
- JSON is refused when it nests deeper than ``MAX_JSON_DEPTH`` (checked before parsing, so a
  100,000-deep file gives a message, not a RecursionError), or holds NaN, infinity, a float that
  overflows (``1e400``) or a whole number beyond ``MAX_JSON_INTEGER``;
- a message quotes at most a short excerpt of a value, with control characters replaced
  (:func:`excerpt`): never a whole, expanded or multi-line value.
"""
from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path

import numpy as np

MAX_YAML_BYTES = 1_000_000  # the shipped parameters file is 6 KB
MAX_YAML_NODES = 50_000  # values once aliases are expanded; the shipped file holds about 200
MAX_JSON_BYTES = 50_000_000  # a results.json of a million-report run is a few MB
MAX_JSON_DEPTH = 64  # results.json nests 8 deep
MAX_JSON_INTEGER = 10 ** 15  # counts of reports; a larger whole number is not a count
EXCERPT_CHARACTERS = 40


class BoundedInputError(ValueError):
    """A file or value refused before (or instead of) being read in full; the message says why."""


def excerpt(value: object, limit: int = EXCERPT_CHARACTERS) -> str:
    """A short, printable excerpt of a value for a message: quoted text cut to ``limit`` characters with
    control characters replaced by '?'; a list or mapping by its kind and length, never its content."""
    if isinstance(value, (dict, list, tuple, set)):
        kind = "a mapping" if isinstance(value, dict) else "a list"
        return f"{kind} of {len(value)} item{'s' if len(value) != 1 else ''}"
    if value is None or isinstance(value, (bool, int, float)):
        text = str(value) if not isinstance(value, int) or abs(value) < 10 ** 30 else "a very large number"
        return text[:limit]
    text = value if isinstance(value, str) else type(value).__name__
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text[:limit + 1])
    return repr(cleaned[:limit] + ("..." if len(text) > limit else ""))


def clean_message(text: str, limit: int = 300) -> str:
    """A library's error message made safe to print: one line, printable, at most ``limit`` characters."""
    flat = " ".join(str(text).split())
    flat = "".join(ch if ch.isprintable() else "?" for ch in flat)
    return flat if len(flat) <= limit else flat[:limit] + "..."


def read_regular_file(path: Path | str, *, max_bytes: int, what: str) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; :class:`BoundedInputError` otherwise.

    The file is opened without blocking (a named pipe is refused, not waited on), checked to be a
    regular file on the open handle, and read up to one byte past the limit.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise BoundedInputError(f"the {what} {path} does not exist") from None
    except IsADirectoryError:
        raise BoundedInputError(f"the {what} {path} is a folder, not a file") from None
    except OSError as exc:
        raise BoundedInputError(f"the {what} {path} cannot be read ({exc.strerror or exc})") from None
    try:
        mode = os.fstat(fd).st_mode
        kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a device"),
                 (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))
        for test, kind in kinds:
            if test(mode):
                raise BoundedInputError(f"the {what} {path} is {kind}, not a file")
        if not stat.S_ISREG(mode):
            raise BoundedInputError(f"the {what} {path} is not a regular file")
        size = os.fstat(fd).st_size
        if size > max_bytes:
            raise BoundedInputError(f"the {what} {path} is too big ({size:,} bytes; the limit is {max_bytes:,})")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=True) as handle:
            fd = -1
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise BoundedInputError(f"the {what} {path} cannot be read ({exc.strerror or exc})") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > max_bytes:  # the file grew while it was read
        raise BoundedInputError(f"the {what} {path} is too big (more than {max_bytes:,} bytes)")
    return data


# -- YAML --------------------------------------------------------------------------------------------

def expanded_size(node, limit: int = MAX_YAML_NODES) -> int:
    """How many values a composed YAML node holds once every alias is expanded.

    Counted over the node graph with each node's size remembered, so an alias bomb is measured in
    a few thousand steps, never expanded. Raises :class:`BoundedInputError` above ``limit`` or on a
    node that contains itself.
    """
    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(current) -> int:
        key = id(current)
        if key in sizes:
            return sizes[key]
        if key in visiting:
            raise BoundedInputError("the YAML refers to itself (an alias inside its own anchor)")
        visiting.add(key)
        total = 1
        value = current.value
        if isinstance(value, list):
            for child in value:
                children = child if isinstance(child, tuple) else (child,)
                for part in children:
                    total += size(part)
                    if total > limit:
                        raise BoundedInputError(f"the YAML holds more than {limit:,} values once its aliases (*name) "
                                                "are expanded")
        visiting.discard(key)
        sizes[key] = total
        return total

    return size(node)


def bounded_yaml_loader(base):
    """A subclass of the PyYAML loader ``base`` that refuses documents above :data:`MAX_YAML_NODES` values."""

    class BoundedLoader(base):
        def compose_document(self):
            node = super().compose_document()
            if node is not None:
                expanded_size(node)
            return node

    return BoundedLoader


def load_yaml(data: bytes, loader) -> object:
    """YAML text (UTF-8) parsed with ``loader`` (made with :func:`bounded_yaml_loader`).

    Raises BoundedInputError, UnicodeDecodeError or yaml.YAMLError; the caller names the file.
    """
    import yaml

    return yaml.load(data.decode("utf-8"), Loader=loader)  # noqa: S506 - the loader is a SafeLoader


def read_yaml(path: Path | str, *, what: str = "file", max_bytes: int = MAX_YAML_BYTES) -> object:
    """A YAML file read within the limits above (a regular file, at most ``max_bytes``, at most
    MAX_YAML_NODES values once its aliases are expanded), with YAML's safe loader."""
    import yaml

    return load_yaml(read_regular_file(path, max_bytes=max_bytes, what=what), bounded_yaml_loader(yaml.SafeLoader))


# -- JSON --------------------------------------------------------------------------------------------

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPEN, _CLOSE = np.frombuffer(b"[{", dtype=np.uint8), np.frombuffer(b"]}", dtype=np.uint8)


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text, counted without parsing it."""
    bare = np.frombuffer(_JSON_STRING.sub(b'""', data), dtype=np.uint8)
    steps = np.isin(bare, _OPEN).astype(np.int64) - np.isin(bare, _CLOSE).astype(np.int64)
    return int(np.cumsum(steps).max()) if len(steps) else 0


def _refuse_constant(name: str):
    raise BoundedInputError(f"it holds {name}, which is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BoundedInputError(f"it holds the number {excerpt(text)}, too large to be a figure")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 16:
        raise BoundedInputError(f"it holds the whole number {excerpt(text)}, larger than any count of reports")
    value = int(text)
    if abs(value) > MAX_JSON_INTEGER:
        raise BoundedInputError(f"it holds the whole number {value}, larger than any count of reports")
    return value


def parse_json(data: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> object:
    """JSON bytes parsed with every number finite and bounded, after a depth check.

    Raises
    ------
    BoundedInputError
        Too deep, NaN or infinity, a number too large, not UTF-8, or not JSON (the parser's
        message, cleaned).
    """
    depth = json_depth(data)
    if depth > max_depth:
        raise BoundedInputError(f"it nests {depth:,} levels deep; results.json nests far fewer (the limit is "
                                f"{max_depth})")
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float,
                          parse_int=_bounded_int)
    except UnicodeDecodeError:
        raise BoundedInputError("it is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BoundedInputError(f"it is not JSON ({clean_message(exc.msg, 80)} at line {exc.lineno}, column "
                                f"{exc.colno})") from None
    except RecursionError:
        raise BoundedInputError("it nests too deep to be read") from None


def read_json_file(path: Path | str, *, what: str = "file", max_bytes: int = MAX_JSON_BYTES,
                   max_depth: int = MAX_JSON_DEPTH) -> object:
    """A JSON file read within the limits above; :class:`BoundedInputError` names the file and the reason."""
    data = read_regular_file(path, max_bytes=max_bytes, what=what)
    try:
        return parse_json(data, max_depth=max_depth)
    except BoundedInputError as error:
        raise BoundedInputError(f"the {what} {path} cannot be read: {error}") from None


def schema_problem(document: object, schema: dict, *, limit: int = 3) -> str | None:
    """Where ``document`` breaks the JSON ``schema``, in a sentence (at most ``limit`` problems), or None."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if not errors:
        return None
    described = []
    for error in errors[:limit]:
        where = "/".join(str(part) for part in error.absolute_path) or "the top level"
        described.append(f"at {clean_message(where, 120)}: {_schema_reason(error)}")
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(described) + more


def _schema_reason(error) -> str:
    """jsonschema's reason without quoting the whole offending value (it can be large)."""
    kind = error.validator
    if kind == "type":
        return f"{excerpt(error.instance)} is not of type {error.validator_value}"
    if kind == "required":
        return clean_message(error.message, 120)
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"{excerpt(error.instance)} is out of range ({kind} {error.validator_value})"
    if kind == "enum":
        return f"{excerpt(error.instance)} is not one of {clean_message(str(error.validator_value), 120)}"
    if kind == "additionalProperties":
        return "holds a field the schema does not allow"
    return f"{excerpt(error.instance)} breaks the schema's '{kind}' rule"
