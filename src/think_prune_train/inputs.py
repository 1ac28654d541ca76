"""Files a user hands the pipeline: regular files of a bounded size, and YAML read one way.

Task sources, `params.yaml` and `conf/` come from users, and a hostile or broken one must get one
clear line, never a hang, a memory blow-up or a traceback:

- `read_bounded` reads a regular file (following links) of at most `limit` bytes; a FIFO, a device,
  a socket, a folder, a link loop or a larger file is refused naming the path before a byte is read
  (a FIFO would block forever, `/dev/zero` never ends). A `.gz` file's decompressed size is bounded too.
- `read_yaml` reads a params file as DVC does (ruamel.yaml's safe loader, YAML 1.2), after refusing
  anything whose reading could differ between DVC and the stages or explode: anchors, aliases and
  merge keys (a "billion laughs" document expands to gigabytes; they are refused by a linear scan
  before anything is built), tags, directives, duplicate keys, keys that are not text, values a
  YAML 1.1 reader (PyYAML, OmegaConf) reads differently (`yes`, `on`, `017`, `1:20`, `1e3`),
  dates, NaN and infinity, OmegaConf interpolations (`${...}`, which the stages would resolve while
  DVC records the text) and numbers with more digits than any setting takes.
  `check_yaml_structure` applies the structural part to Hydra's `conf/` files.

Messages never hold a whole user value: `shown` cuts it.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import stat
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from think_prune_train.errors import Error

SHOWN_CHARS = 60
# Params files are a few kilobytes; this bounds the work before any check has run.
MAX_PARAMS_BYTES = 1 << 20
# The largest integer a setting takes (numpy and torch seeds, counts and sizes all fit in 64 bits).
MAX_INTEGER = 2**63 - 1
# A plain scalar that YAML reads as an integer; longer than this, it is out of range (and Python
# refuses to convert over 4,300 digits, with a ValueError that names nothing).
_INTEGER_LITERAL = re.compile(r"[-+]?(?:[0-9][0-9_]*|0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+)")
_MAX_INTEGER_CHARS = 30
_STRING_TAG = "tag:yaml.org,2002:str"
# Params nest a handful of levels (teacher_selection.candidates.<name>.warmup.epochs is the deepest).
MAX_DEPTH = 32


class InputFileError(Error, ValueError):
    """A file that cannot be read as the input it should be; the message names the path (and line)."""


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """`repr(value)` cut to about `limit` characters, saying how long the whole was."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value).bit_length() > 200:
        text = str(value)  # repr of a 10**400 is all its digits
        return f"{text[:20]}...({len(text.lstrip('-'))} digits)"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}...({len(text):,} characters)"


def file_problem(path: str | Path) -> str | None:
    """Why `path` is not a regular file that can be read, or None when it is one."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "is a broken link" if os.path.islink(path) else "does not exist"
    except OSError as error:  # a link loop (ELOOP), a name too long, no permission
        return f"cannot be opened ({os.strerror(error.errno) if error.errno else error})"
    for test, kind in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return f"is {kind}, not a regular file"
    return None if stat.S_ISREG(mode) else "is not a regular file"


def read_bounded(path: str | Path, limit: int, what: str = "file") -> bytes:
    """The bytes of regular file `path`, of at most `limit` bytes (decompressed, for a `.gz` file)."""
    path = Path(path)
    problem = file_problem(path)
    if problem:
        raise InputFileError(f"{path}: {problem}; a {what} must be a regular file.")
    too_big = (f"{path}: over {limit:,} bytes{' decompressed' if path.name.endswith('.gz') else ''}; a {what} "
               f"may hold at most {limit:,} bytes: split it, or trim it")
    try:
        # O_NONBLOCK: should the path turn into a FIFO between the check and the open, no wait.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with open(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise InputFileError(f"{path}: is not a regular file; a {what} must be one.")
            if os.fstat(handle.fileno()).st_size > limit:
                raise InputFileError(too_big + ".")
            if path.name.endswith(".gz"):
                with gzip.GzipFile(fileobj=handle) as unpacked:
                    data = unpacked.read(limit + 1)
            else:
                data = handle.read(limit + 1)  # /proc files say size 0 and can be longer
    except (OSError, EOFError) as error:  # no permission, a truncated or mislabelled .gz
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise InputFileError(f"{path}: cannot be read ({reason}); write the file again.") from None
    if len(data) > limit:
        raise InputFileError(too_big + ".")
    return data


# --- YAML -------------------------------------------------------------------------------------------

def _dotted(path: tuple) -> str:
    text = ""
    for part in path:
        part = part if isinstance(part, int) or len(str(part)) <= SHOWN_CHARS else f"{str(part)[:SHOWN_CHARS]}..."
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "top level"


class _Frame:
    def __init__(self, kind: str, path: tuple):
        self.kind, self.path = kind, path
        self.keys: dict[str, int] = {}
        self.pending: str | None = None
        self.index = 0


def check_yaml_structure(text: str, name: str) -> dict[tuple, int]:
    """Refuse anchors, aliases, merge keys, tags, directives, several documents, duplicate keys, keys
    that are not plain text and integers longer than any setting takes, naming `name` and the line.

    A scan of the parser's events: no node is built and no alias expanded, so a "billion laughs"
    document is refused in microseconds. Returns the line of every value, by its key path.
    """
    lines: dict[tuple, int] = {}
    stack: list[_Frame] = []
    documents = 0
    resolver = yaml.resolver.Resolver()

    def refuse(line: int, reason: str) -> None:
        raise InputFileError(f"{name}:{line}: {reason}")

    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            line = event.start_mark.line + 1
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    refuse(line, "a second YAML document (`---`); the file must hold one mapping of keys to values.")
                if event.version or event.tags:
                    refuse(line, "a YAML directive (%YAML or %TAG) changes how the file is read; remove it.")
                continue
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                stack.pop()
                continue
            if not isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.CollectionStartEvent)):
                continue
            frame = stack[-1] if stack else None
            where = _dotted(frame.path) if frame and frame.path else "the top level"
            if isinstance(event, yaml.AliasEvent):
                refuse(line, f"an alias (*{event.anchor[:SHOWN_CHARS]}) in {where}; params take no anchors or "
                             f"aliases: write the value out.")
            if event.anchor is not None:
                refuse(line, f"an anchor (&{event.anchor[:SHOWN_CHARS]}) in {where}; params take no anchors or "
                             f"aliases: remove it.")
            if event.tag is not None:
                refuse(line, f"a YAML tag ({event.tag[:SHOWN_CHARS]}) in {where}; params take plain values only: "
                             f"remove the tag.")
            if frame is not None and frame.kind == "map" and frame.pending is None:
                if not isinstance(event, yaml.ScalarEvent):
                    refuse(line, f"a key in {where} is a list or a mapping; keys are plain text.")
                key = event.value
                if event.style is None:
                    if key == "<<":
                        refuse(line, f"a merge key (<<) in {where}; params take no merge keys: write the keys out.")
                    if resolver.resolve(yaml.ScalarNode, key, (True, False)) != _STRING_TAG:
                        refuse(line, f"key {shown(key)} in {where} reads as a number, boolean or null, not text; "
                                     f"quote it.")
                if _value_problem(key):
                    refuse(line, f"key {shown(key)} in {where} {_value_problem(key)}.")
                if key in frame.keys:
                    refuse(line, f"duplicate key {_dotted(frame.path + (key,))} (first on line {frame.keys[key]}); "
                                 f"a YAML reader keeps only one of them: remove the other.")
                frame.keys[key] = line
                frame.pending = key
                continue
            if frame is None:
                path: tuple = ()
            elif frame.kind == "map":
                path, frame.pending = frame.path + (frame.pending,), None
            else:
                path, frame.index = frame.path + (frame.index,), frame.index + 1
            lines[path] = line
            if isinstance(event, yaml.ScalarEvent):
                if (event.style is None and len(event.value) > _MAX_INTEGER_CHARS
                        and _INTEGER_LITERAL.fullmatch(event.value)):
                    refuse(line, f"{_dotted(path)}: {event.value[:20]}...({len(event.value):,} characters) is out of range: "
                                 f"no setting takes an "
                                 f"integer over {MAX_INTEGER:,} (2**63 - 1).")
            else:
                if len(stack) >= MAX_DEPTH:  # the readers build nested values recursively: a deep one crashes them
                    refuse(line, f"lists and mappings nested over {MAX_DEPTH} deep in {where}; params nest a few levels.")
                stack.append(_Frame("map" if isinstance(event, yaml.MappingStartEvent) else "seq", path))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        reason = str(getattr(error, "problem", None) or error).strip().splitlines()[0][:200]
        raise InputFileError(f"{name}{f':{mark.line + 1}' if mark else ''}: not valid YAML ({reason}).") from None
    return lines


def _value_problem(value: Any) -> str | None:
    """Why a value read from a params file would mean something else to the stages than to DVC."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, date):  # datetime is a date too
        return "is read as a date, which params do not take; quote it to make it text"
    if isinstance(value, float) and not math.isfinite(value):
        return "is not a finite number (NaN or infinity); give an ordinary number"
    if isinstance(value, int) and abs(value) > MAX_INTEGER:
        return f"is out of range: no setting takes an integer over {MAX_INTEGER:,} (2**63 - 1)"
    if isinstance(value, str) and "${" in value:
        return ("holds '${': the stages would resolve it as an OmegaConf interpolation while DVC records the text; "
                "write the value itself")
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "holds half of a UTF-16 surrogate pair (a \\ud800-style escape), which no UTF-8 file can hold; remove it"
    if isinstance(value, str) and value == "???":
        return "is '???', OmegaConf's marker of a missing value; give the value"
    if not isinstance(value, (str, int, float, dict, list)):
        return f"is a {type(value).__name__}, which params do not take"
    return None


def _first_difference(dvc: Any, other: Any, path: tuple) -> tuple | None:
    if isinstance(dvc, float) and isinstance(other, str):
        # `1e-3`: YAML 1.1 reads text that OmegaConf and Python turn into the same number.
        try:
            return None if float(other) == dvc else path
        except ValueError:
            return path
    if type(dvc) is not type(other):
        return path
    if isinstance(dvc, dict):
        if list(dvc) != list(other):
            return path
        for key in dvc:
            found = _first_difference(dvc[key], other[key], path + (key,))
            if found is not None:
                return found
        return None
    if isinstance(dvc, list):
        if len(dvc) != len(other):
            return path
        for index, (a, b) in enumerate(zip(dvc, other)):
            found = _first_difference(a, b, path + (index,))
            if found is not None:
                return found
        return None
    return None if dvc == other else path


def _walk(value: Any, path: tuple = ()):
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, path + (index,))


def _lookup(value: Any, path: tuple) -> Any:
    for part in path:
        value = value[part]
    return value


def parse_yaml(text: str, name: str) -> Any:
    """The YAML `text` as DVC reads it (ruamel.yaml's safe loader), once nothing in it can be read
    differently by the stages, by a YAML 1.1 reader, or expand; InputFileError naming `name` and the line."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError as RuamelError

    lines = check_yaml_structure(text, name)

    def at(path: tuple) -> str:
        line = lines.get(path)
        return f"{name}:{line}" if line else name

    try:
        dvc_reading = YAML(typ="safe").load(text)
    except (RuamelError, ValueError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise InputFileError(f"{name}: not valid YAML ({reason}).") from None
    for path, value in _walk(dvc_reading):
        problem = _value_problem(value)
        if problem:
            raise InputFileError(f"{at(path)}: {_dotted(path)}: {shown(value)} {problem}.")
    try:
        other_reading = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise InputFileError(f"{name}: not valid YAML 1.1 ({reason}); write it plainly.") from None
    differs = _first_difference(dvc_reading, other_reading, ())
    if differs is not None:
        dvc_value, other_value = _lookup(dvc_reading, differs), _lookup(other_reading, differs)
        raise InputFileError(
            f"{at(differs)}: {_dotted(differs)}: DVC reads {shown(dvc_value)} (YAML 1.2) where YAML 1.1 readers "
            f"(PyYAML, OmegaConf) read {shown(other_value)}; write it so that both agree: true/false for a "
            f"switch, a plain decimal number, or text in quotes."
        )
    return dvc_reading


def read_yaml(path: str | Path, what: str = "params file") -> Any:
    """A params file read as DVC reads it (see `parse_yaml`), refused when DVC and the stages could disagree."""
    data = read_bounded(path, MAX_PARAMS_BYTES, what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputFileError(f"{path}: not UTF-8 text (byte {error.start}); save it as UTF-8.") from None
    return parse_yaml(text, str(path))
