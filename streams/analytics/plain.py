"""Checked conversion between analytics state and plain data (None, bool, int, float, str, bytes, list, dict).

Every state class has `to_data()` and `from_data(data)`: the changelog record is msgpack of that plain data
(see state.py), never a pickle, so decoding a record can build nothing but these classes. `from_data` checks every
field's type and raises `StateDecodeError` on the first that does not fit; numpy arrays travel as dtype, shape and
raw bytes, for an allow-listed set of numeric dtypes only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from streams.errors import StreamError

__all__ = [
    "StateDecodeError",
    "array_from",
    "array_to",
    "field",
    "need_bool",
    "need_int",
    "need_list",
    "need_num",
    "need_str",
    "opt",
]

T = TypeVar("T")

_DTYPES = {"<f4", "<f8", "<i4", "<i8"}
_MAX_ELEMENTS = 1 << 20


class StateDecodeError(StreamError, ValueError):
    """A changelog record that is not a camera state this version can read (the reason, never its bytes)."""


def field(data: Any, name: str) -> Any:
    if not isinstance(data, dict):
        raise StateDecodeError(f"expected a map holding {name!r}, found {type(data).__name__}")
    if name not in data:
        raise StateDecodeError(f"field {name!r} is missing")
    return data[name]


def need_int(v: Any, what: str = "value") -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise StateDecodeError(f"{what}: expected an integer, found {type(v).__name__}")
    return v


def need_num(v: Any, what: str = "value") -> float:
    """A number, kept as written (an int stays an int, so a restored state computes exactly as the original)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise StateDecodeError(f"{what}: expected a number, found {type(v).__name__}")
    return v


def need_bool(v: Any, what: str = "value") -> bool:
    if not isinstance(v, bool):
        raise StateDecodeError(f"{what}: expected a boolean, found {type(v).__name__}")
    return v


def need_str(v: Any, what: str = "value") -> str:
    if not isinstance(v, str):
        raise StateDecodeError(f"{what}: expected a string, found {type(v).__name__}")
    return v


#: most items of any one list in a state (tracks, trail points, lines, recent frames): far above what a camera
#: holds (hundreds of tracks, a trail of one speed horizon), low enough that a crafted record cannot make the worker
#: spend seconds rebuilding millions of objects
MAX_LIST_ITEMS = 100_000


def need_list(v: Any, what: str = "value") -> list[Any]:
    if not isinstance(v, list):
        raise StateDecodeError(f"{what}: expected a list, found {type(v).__name__}")
    if len(v) > MAX_LIST_ITEMS:
        raise StateDecodeError(f"{what}: {len(v)} items, more than the {MAX_LIST_ITEMS} a state may hold")
    return v


def opt(v: Any, conv: Callable[[Any], T]) -> T | None:
    return None if v is None else conv(v)


def array_to(a: Any) -> dict[str, Any]:
    """A numpy array or scalar as plain data (a scalar is a 0-d array with `scalar` set)."""
    arr = np.asarray(a)
    dtype = arr.dtype.newbyteorder("<").str
    if dtype not in _DTYPES:
        raise TypeError(f"cannot encode a numpy array of dtype {arr.dtype}")
    return {
        "dtype": dtype,
        "shape": list(arr.shape),
        "data": np.ascontiguousarray(arr, dtype=dtype).tobytes(),
        "scalar": isinstance(a, np.generic),
    }


def array_from(data: Any, what: str = "array") -> Any:
    dtype = need_str(field(data, "dtype"), what)
    if dtype not in _DTYPES:
        raise StateDecodeError(f"{what}: dtype {dtype!r} is not allowed")
    shape = [need_int(n, what) for n in need_list(field(data, "shape"), what)]
    if len(shape) > 4 or any(n < 0 for n in shape) or int(np.prod(shape)) > _MAX_ELEMENTS:
        raise StateDecodeError(f"{what}: shape {shape} is not allowed")
    raw = field(data, "data")
    if not isinstance(raw, bytes) or len(raw) != int(np.prod(shape)) * np.dtype(dtype).itemsize:
        raise StateDecodeError(f"{what}: data does not match dtype {dtype} and shape {shape}")
    arr: npt.NDArray[Any] = np.frombuffer(raw, dtype=dtype).reshape(shape).astype(np.dtype(dtype).newbyteorder("="))
    return arr[()] if need_bool(field(data, "scalar"), what) else arr
