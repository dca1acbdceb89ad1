"""A pickle reader that can only build plain data, within fixed limits.

The refer toolkit ships its referring expressions as ``refs(<splitBy>).p`` pickles. A pickle is a
program: loading one with :func:`pickle.load` can import and call anything (``os.system``). Here a
pickle is read in two passes:

1. :func:`_scan` walks the opcodes without building anything. It refuses every opcode that could
   reach a Python object other than plain data (globals, calls, ``BUILD``, extensions, persistent
   ids, out-of-band buffers and bytearrays), and simulates the stack to bound the number of
   objects (:data:`MAX_OBJECTS`) and the nesting depth (:data:`MAX_DEPTH`). The depth bound must
   come first: CPython's unpickler hashes a dict key or set item recursively in C, and a 2 MB pickle
   of a million nested tuples used as a key overflows the C stack (a segfault, not an exception).
2. The C unpickler (:class:`RestrictedUnpickler`, whose ``find_class`` refuses everything as a
   second line of defence) builds the data, and :func:`_to_str` turns Python 2 byte strings into
   ``str``. That pass is memoised by object id, so a "billion laughs" pickle (each level holding
   the previous one twice, through the memo) costs time linear in the file, not 2**levels; it
   refuses cycles (a list that contains itself), which no refer file has.

Only dict, list, tuple, set, frozenset, str, bytes, int, float, bool and None load. That is all the
refer files contain. Files above :data:`MAX_BYTES` are refused before they are read. Every failure
is a :class:`~rismodel.data.errors.DatasetError` naming the file (:class:`UnsafePickleError`, a
subclass, when the pickle asked for code).

The RefCOCO pickles were written by Python 2 (protocol 2), whose byte strings arrive here as
``bytes`` (``encoding="bytes"``); :func:`load_plain_pickle` turns them into ``str`` (UTF-8, with
Latin-1 as the fallback for the odd non-UTF-8 byte), keys included.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

from rismodel.data.errors import DatasetError

# The real refs(unc).p of RefCOCO is ~40 MB with ~12 M opcodes and nesting depth 5.
MAX_BYTES = 512 * 1024 * 1024
MAX_OBJECTS = 50_000_000
MAX_DEPTH = 100
# Picklers number memo entries 0, 1, 2, ...; the C unpickler sizes its memo table by the largest
# index it sees, so a single PUT of index 2**32 - 1 would allocate 32 GB.
MEMO_SLACK = 1024


class UnsafePickleError(DatasetError, pickle.UnpicklingError):
    """The pickle asked for a Python object (class or function) and was refused."""


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler whose ``find_class`` refuses everything: no imports, no calls."""

    def find_class(self, module: str, name: str) -> Any:
        raise UnsafePickleError(
            f"refusing to load {module}.{name}: this pickle would create Python objects or run "
            "code; only plain containers, strings and numbers are allowed")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("refusing a pickle with persistent ids")


# Opcode -> how its argument is laid out: a fixed byte count, ("len", n) for an n-byte little-endian
# length followed by that many bytes, "line" for a newline-terminated argument, "line2" for two.
_LEAF_ARGS: dict[int, Any] = {
    ord("N"): 0, 0x88: 0, 0x89: 0,  # NONE NEWTRUE NEWFALSE
    ord("I"): "line", ord("L"): "line", ord("F"): "line", ord("S"): "line", ord("V"): "line",
    ord("J"): 4, ord("K"): 1, ord("M"): 2, ord("G"): 8,  # BININT BININT1 BININT2 BINFLOAT
    0x8A: ("len", 1), 0x8B: ("len", 4),  # LONG1 LONG4
    ord("T"): ("len", 4), ord("U"): ("len", 1),  # BINSTRING SHORT_BINSTRING
    ord("B"): ("len", 4), ord("C"): ("len", 1), 0x8E: ("len", 8),  # BINBYTES SHORT_BINBYTES BINBYTES8
    0x8C: ("len", 1), ord("X"): ("len", 4), 0x8D: ("len", 8),  # SHORT_BINUNICODE BINUNICODE(8)
}
_REFUSED = {
    ord("c"): "GLOBAL", 0x93: "STACK_GLOBAL", ord("R"): "REDUCE", ord("b"): "BUILD",
    ord("i"): "INST", ord("o"): "OBJ", 0x81: "NEWOBJ", 0x92: "NEWOBJ_EX", 0x82: "EXT1",
    0x83: "EXT2", 0x84: "EXT4", ord("P"): "PERSID", ord("Q"): "BINPERSID",
    0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
}


class _Bad(Exception):
    """Internal: the scan refused the pickle (message says why)."""


def _line_end(data: bytes, pos: int) -> int:
    end = data.find(b"\n", pos)
    if end < 0:
        raise _Bad("truncated (a text argument has no end of line)")
    return end + 1


def _scan(data: bytes) -> None:
    """Refuse code, and bound objects and depth, without building anything (see the module doc).

    The loop is written for speed (RefCOCO's refs file has ~12 M opcodes): the opcodes of plain
    strings, ints and memo look-ups come first and do the least; a stream that ends early is an
    IndexError on ``data[pos]`` or ``stack[-1]``, reported by the caller as truncated/malformed.
    """
    n, pos = len(data), 0
    stack: list[Any] = []
    push = stack.append
    marks: list[int] = []
    memo: dict[int, Any] = {}
    objects = 0

    def pop_mark() -> list[Any]:
        if not marks:
            raise _Bad("a MARK is missing")
        k = marks.pop()
        items = stack[k:]
        del stack[k:]
        return items

    def pop(count: int) -> list[Any]:
        if len(stack) - (marks[-1] if marks else 0) < count:
            raise _Bad("stack underflow")
        items = stack[len(stack) - count:]
        del stack[len(stack) - count:]
        return items

    def top() -> Any:
        if len(stack) <= (marks[-1] if marks else 0):
            raise _Bad("stack underflow")
        return stack[-1]

    def grow(target: Any, items: list[Any]) -> None:
        if isinstance(target, int):
            raise _Bad("adds items to something that is not a list, dict or set")
        if items:
            height = 1 + max(x if x.__class__ is int else x[0] for x in items)
            if height > target[0]:
                if height > MAX_DEPTH:
                    raise _Bad(f"nested more than {MAX_DEPTH} levels deep")
                target[0] = height

    def container(items: list[Any], mutable: bool) -> Any:
        height = 1 + max((x if x.__class__ is int else x[0] for x in items), default=0)
        if height > MAX_DEPTH:
            raise _Bad(f"nested more than {MAX_DEPTH} levels deep")
        return [height] if mutable else height

    while True:
        op = data[pos]
        pos += 1
        # Hot path: what refer pickles are made of.
        if op == 0x71:  # BINPUT
            memo[data[pos]] = stack[-1]
            pos += 1
        elif op == 0x8C or op == 0x55 or op == 0x43:  # SHORT_BINUNICODE SHORT_BINSTRING SHORT_BINBYTES
            pos += 1 + data[pos]
            push(0)
            objects += 1
        elif op == 0x4B:  # BININT1
            pos += 1
            push(0)
            objects += 1
        elif op == 0x68:  # BINGET
            push(memo[data[pos]])
            pos += 1
        elif op == 0x58 or op == 0x54 or op == 0x42:  # BINUNICODE BINSTRING BINBYTES
            pos += 4 + int.from_bytes(data[pos:pos + 4], "little")
            push(0)
            objects += 1
        elif op == 0x28:  # MARK
            marks.append(len(stack))
        elif op == 0x75:  # SETITEMS
            items = pop_mark()
            if len(items) % 2:
                raise _Bad("SETITEMS with an odd number of items")
            grow(top(), items)
        elif op == 0x65 or op == 0x90:  # APPENDS ADDITEMS
            items = pop_mark()
            grow(top(), items)
        elif op == 0x7D or op == 0x5D or op == 0x8F:  # EMPTY_DICT EMPTY_LIST EMPTY_SET
            push([1])
            objects += 1
            if objects > MAX_OBJECTS:
                raise _Bad(f"more than {MAX_OBJECTS:,} objects")
        elif op == 0x72:  # LONG_BINPUT
            idx = int.from_bytes(data[pos:pos + 4], "little")
            if idx > len(memo) + MEMO_SLACK:
                raise _Bad(f"memo index {idx:,} out of sequence")
            memo[idx] = stack[-1]
            pos += 4
        elif op == 0x6A:  # LONG_BINGET
            push(memo[int.from_bytes(data[pos:pos + 4], "little")])
            pos += 4
        elif op == 0x94:  # MEMOIZE
            memo[len(memo)] = stack[-1]
        elif op == 0x4D or op == 0x4A or op == 0x47:  # BININT2 BININT BINFLOAT
            pos += 2 if op == 0x4D else 4 if op == 0x4A else 8
            push(0)
            objects += 1
        elif op == 0x4E or op == 0x88 or op == 0x89:  # NONE NEWTRUE NEWFALSE
            push(0)
            objects += 1
        elif op == 0x29:  # EMPTY_TUPLE
            push(1)
            objects += 1
        # Everything else.
        elif op in _REFUSED:
            what = _REFUSED[op]
            if op in (ord("c"), ord("i")):
                end = data.find(b"\n", data.find(b"\n", pos) + 1)
                what = data[pos:end].decode("latin-1").replace("\n", ".") if end > 0 else what
            raise UnsafePickleError(
                f"refusing to load {what}: this pickle would create Python objects or run code; "
                "only plain containers, strings and numbers are allowed")
        elif op in _LEAF_ARGS:  # the rarer forms of strings and numbers
            arg = _LEAF_ARGS[op]
            if arg == "line":
                pos = _line_end(data, pos)
            elif isinstance(arg, int):
                pos += arg
            else:
                width = arg[1]
                size = int.from_bytes(data[pos:pos + width], "little", signed=op == 0x8B)
                if size < 0:
                    raise _Bad("negative length")
                pos += width + size
            push(0)
            objects += 1
        elif op == ord("."):  # STOP
            if pos > n:
                raise _Bad("truncated (an argument runs past the end)")
            if len(stack) != 1 or marks:
                raise _Bad("malformed (the stack does not end with one object)")
            if objects > MAX_OBJECTS:
                raise _Bad(f"more than {MAX_OBJECTS:,} objects")
            return
        elif op == ord("p") or op == ord("g"):  # PUT GET (protocol 0)
            end = _line_end(data, pos)
            try:
                idx = int(data[pos:end - 1])
            except ValueError:
                raise _Bad("a PUT/GET index is not a number") from None
            pos = end
            if op == ord("p"):
                if not 0 <= idx <= len(memo) + MEMO_SLACK:
                    raise _Bad(f"memo index {idx:,} out of sequence")
                memo[idx] = stack[-1]
            else:
                push(memo[idx])
        elif op == ord("a"):  # APPEND
            items = pop(1)
            grow(top(), items)
        elif op == ord("s"):  # SETITEM
            items = pop(2)
            grow(top(), items)
        elif op in (ord("l"), ord("d"), ord("t"), 0x91):  # LIST DICT TUPLE FROZENSET
            push(container(pop_mark(), mutable=op in (ord("l"), ord("d"))))
            objects += 1
        elif op in (0x85, 0x86, 0x87):  # TUPLE1 TUPLE2 TUPLE3
            push(container(pop(op - 0x84), mutable=False))
            objects += 1
        elif op == ord("0"):  # POP
            if stack and marks and marks[-1] == len(stack):
                marks.pop()  # POP of a MARK (as the C unpickler allows)
            else:
                pop(1)
        elif op == ord("1"):  # POP_MARK
            pop_mark()
        elif op == ord("2"):  # DUP
            push(top())
        elif op == 0x80:  # PROTO
            pos += 1
        elif op == 0x95:  # FRAME: a length prefix only
            pos += 8
        else:
            raise _Bad(f"unknown opcode 0x{op:02x} at byte {pos - 1}")


def _decode(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


_LEAVES = frozenset({str, int, float, bool, type(None)})  # exact classes: no subclass can load


def _to_str(root: Any) -> Any:
    """Decode Python 2 byte strings (``encoding='bytes'``) to ``str``, keys included.

    Memoised by id (shared references are converted once and stay shared), depth-bounded, and
    refusing cycles and any type other than plain data. Leaves are handled inline (most of a refs
    file is short strings and ints; a call per leaf would double the time).
    """
    done: dict[int, Any] = {}
    active: set[int] = set()
    keep: list[Any] = []  # holds the originals so that their ids stay unique while we work
    leaves = _LEAVES

    def conv(value: Any, depth: int) -> Any:
        cls = value.__class__
        if cls is bytes:
            return _decode(value)
        if cls in leaves:
            return value
        key = id(value)
        if key in done:
            return done[key]
        if key in active:
            raise _Bad("an object contains itself (a cycle)")
        if depth > MAX_DEPTH:
            raise _Bad(f"nested more than {MAX_DEPTH} levels deep")
        active.add(key)
        keep.append(value)
        d = depth + 1
        if cls is dict:
            out: Any = {(k if k.__class__ in leaves else conv(k, d)): (v if v.__class__ in leaves else conv(v, d))
                        for k, v in value.items()}
        elif cls is list:
            out = [v if v.__class__ in leaves else conv(v, d) for v in value]
        elif cls is tuple:
            out = tuple(v if v.__class__ in leaves else conv(v, d) for v in value)
        elif cls is set or cls is frozenset:
            out = cls(v if v.__class__ in leaves else conv(v, d) for v in value)
        else:
            raise _Bad(f"holds a {cls.__name__}, which is not plain data")
        active.discard(key)
        done[key] = out
        return out

    return conv(root, 0)


def loads_plain_pickle(data: bytes, where: str = "pickle") -> Any:
    """Unpickle ``data`` that may only contain plain containers, strings and numbers.

    Every failure is a :class:`DatasetError` (:class:`UnsafePickleError` for code) naming ``where``.
    """
    try:
        if len(data) > MAX_BYTES:
            raise _Bad(f"{len(data):,} bytes is more than the {MAX_BYTES:,} a refs pickle may have")
        try:
            _scan(data)
        except (IndexError, KeyError):  # ran past the end, popped an empty stack, read an unset memo
            raise _Bad("truncated or malformed (the opcodes do not fit together)") from None
        obj = RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
        return _to_str(obj)
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{where}: {e}") from None
    except _Bad as e:
        raise DatasetError(f"{where}: not a usable refs pickle: {e}") from None
    except MemoryError:
        raise DatasetError(f"{where}: not a usable refs pickle: it needs more memory than there is") from None
    except Exception as e:  # noqa: BLE001 - the scan passed; whatever the C unpickler still raises
        # on a damaged stream: UnpicklingError, EOFError, TypeError (unhashable key), ...)
        raise DatasetError(f"{where}: not a readable pickle ({type(e).__name__}: {e})") from None


def load_plain_pickle(path: str | os.PathLike) -> Any:
    """Read a plain-data pickle file; every error is a :class:`DatasetError` naming the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise DatasetError(f"{path}: not a regular file")
        if size > MAX_BYTES:
            raise DatasetError(f"{path}: {size:,} bytes is more than the {MAX_BYTES:,} a refs pickle "
                               f"may have")
        data = path.read_bytes()
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None
    return loads_plain_pickle(data, str(path))
