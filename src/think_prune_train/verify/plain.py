"""Plain data across the sandbox's wall: the only form in which a candidate's results leave its process.

A candidate's function returns a Python object, and an object can lie: an `__eq__` that is always
true, an `int` subclass, a `__repr__` that prints what the test wants. So what crosses from the
candidate's process to the judge is never an object but a line of text, written by `encode` and
read by `decode`, that stands for exactly these values: None, bool, int, float, complex, str,
bytes, and list, tuple, dict, set and frozenset of them. `encode` refuses anything else, a subclass
of a builtin included, with `NotPlain`; the candidate's side calls it, and a refusal fails that test.

The candidate's process could bypass `encode` and write any text it likes, so the trusted side
never trusts the text either: `decode` builds fresh builtin values and raises `NotPlain` on
anything malformed, too deep or too large. Whatever the candidate does, what the judge compares is
a value it built itself, so `==` means what the tests mean by it.

The text is a prefix notation of space-separated ASCII tokens, one line, no import needed to write
or read it: `N` None, `T`/`F`, `I<digits>`, `D<float repr>`, `C<real>,<imag>`, `S<hex of UTF-8>`,
`B<hex>`, and `L<n>` (list), `U<n>` (tuple), `E<n>` (set), `Z<n>` (frozenset) followed by their n
items, `M<n>` followed by n keys and values. `[1, "a"]` is `L2 I1 S61`. Starting an interpreter
that imports `json` costs 13 ms more (its `re`); the sandbox starts one per program.

This module imports nothing: its source is sent as it is into the sandbox, where the candidate's
runner and the judge run it (think_prune_train.verify.judge).
"""

# Nesting deeper than this is refused on both sides (a self-containing list would never end).
MAX_DEPTH = 64
# Longest line `decode` reads: a bigger result fails its test.
MAX_TEXT_CHARS = 4 << 20
# Python refuses to turn longer integers into text (sys.int_info.str_digits_check_threshold).
MAX_INT_DIGITS = 4300

_CONTAINERS = {list: "L", tuple: "U", set: "E", frozenset: "Z"}
_BUILDERS = {"L": list, "U": tuple, "E": set, "Z": frozenset}


class NotPlain(ValueError):
    """A value that is not plain data, or text that does not stand for plain data."""


def encode(value):
    """One line of text standing for `value`, which must be plain data (see the module docstring)."""
    tokens = []
    _write(value, tokens, 0)
    return " ".join(tokens)


def _write(value, tokens, depth):
    if depth > MAX_DEPTH:
        raise NotPlain("nested more than %d deep" % MAX_DEPTH)
    kind = type(value)  # exact types: a subclass of a builtin is not plain
    if value is None:
        tokens.append("N")
    elif kind is bool:
        tokens.append("T" if value else "F")
    elif kind is int:
        try:
            tokens.append("I" + str(value))
        except ValueError:  # over Python's own limit on digits
            raise NotPlain("an integer of more than %d digits" % MAX_INT_DIGITS) from None
    elif kind is float:
        tokens.append("D" + repr(value))
    elif kind is complex:
        tokens.append("C" + repr(value.real) + "," + repr(value.imag))
    elif kind is str:
        tokens.append("S" + value.encode("utf-8", "surrogatepass").hex())
    elif kind is bytes:
        tokens.append("B" + value.hex())
    elif kind in _CONTAINERS:
        tokens.append(_CONTAINERS[kind] + str(len(value)))
        for item in value:
            _write(item, tokens, depth + 1)
    elif kind is dict:
        tokens.append("M" + str(len(value)))
        for key, item in value.items():
            _write(key, tokens, depth + 1)
            _write(item, tokens, depth + 1)
    else:
        raise NotPlain("a %s is not plain data" % _type_name(value))


def _type_name(value):
    try:
        return str(type(value).__name__)[:60]
    except Exception:  # noqa: BLE001 - a hostile metaclass; the name is only for the message
        return "object"


def decode(text):
    """The plain value `text` stands for; NotPlain when it stands for none."""
    if type(text) is bytes:
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise NotPlain("not ASCII") from None
    if type(text) is not str or not text or len(text) > MAX_TEXT_CHARS:
        raise NotPlain("not a line of 1 to %d characters" % MAX_TEXT_CHARS)
    tokens = text.split(" ")
    value, used = _read(tokens, 0, 0)
    if used != len(tokens):
        raise NotPlain("%d tokens left over" % (len(tokens) - used))
    return value


def _float(text):
    # float() also reads "infinity", "1_0" and spaces; repr() never writes those.
    if not text or len(text) > 40 or not all(c in "0123456789.e+-infa" for c in text):
        raise NotPlain("%r is not a float's repr" % text[:40])
    try:
        return float(text)
    except ValueError:
        raise NotPlain("%r is not a float's repr" % text[:40]) from None


def _count(text):
    if not text.isdigit() or not text.isascii() or len(text) > 9:
        raise NotPlain("%r is not a count" % text[:20])
    return int(text)


def _read(tokens, at, depth):
    """(value, index after it) for the value starting at tokens[at]."""
    if depth > MAX_DEPTH:
        raise NotPlain("nested more than %d deep" % MAX_DEPTH)
    if at >= len(tokens) or not tokens[at]:
        raise NotPlain("the text ends early")
    tag, rest = tokens[at][0], tokens[at][1:]
    if tag in "NTF" and not rest:
        return {"N": None, "T": True, "F": False}[tag], at + 1
    if tag == "I":
        digits = rest[1:] if rest.startswith("-") else rest
        if not digits.isdigit() or not digits.isascii() or len(digits) > MAX_INT_DIGITS:
            raise NotPlain("%r is not an integer" % rest[:40])
        return int(rest), at + 1
    if tag == "D":
        return _float(rest), at + 1
    if tag == "C" and rest.count(",") == 1:
        real, imag = rest.split(",")
        return complex(_float(real), _float(imag)), at + 1
    if tag in "SB":
        try:
            data = bytes.fromhex(rest)
            return (data.decode("utf-8", "surrogatepass") if tag == "S" else data), at + 1
        except ValueError:
            raise NotPlain("a %s must be written in hex" % ("str" if tag == "S" else "bytes")) from None
    if tag in _BUILDERS:
        items, at = [], at + 1
        for _ in range(_count(rest)):
            item, at = _read(tokens, at, depth + 1)
            items.append(item)
        try:
            return _BUILDERS[tag](items), at
        except TypeError:
            raise NotPlain("a set of unhashable items") from None
    if tag == "M":
        pairs, at = [], at + 1
        for _ in range(_count(rest)):
            key, at = _read(tokens, at, depth + 1)
            item, at = _read(tokens, at, depth + 1)
            pairs.append((key, item))
        try:
            return dict(pairs), at
        except TypeError:
            raise NotPlain("a dict with an unhashable key") from None
    raise NotPlain("%r is not a token of plain data" % tokens[at][:20])
