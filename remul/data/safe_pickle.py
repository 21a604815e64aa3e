"""A restricted unpickler for the public GMN/EGNO data files.

``pickle.load`` runs arbitrary code named by the file; these files only need numpy arrays,
dtypes, scalars, lists, tuples, dicts and plain numbers. :class:`SafeUnpickler` admits exactly
the globals numpy needs to rebuild an array and refuses everything else (``os.system``,
``builtins.eval``, code objects, any ``__reduce__`` payload naming another callable) with an
:class:`UnsafePickleError` that names the file and the refused global.
"""

from __future__ import annotations

import io
import os
import pickle
from typing import Any

import numpy as np

# (module, name) pairs that may be looked up while unpickling.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("builtins", "list"),
        ("builtins", "tuple"),
        ("builtins", "dict"),
        ("builtins", "int"),
        ("builtins", "float"),
        ("builtins", "bool"),
        ("builtins", "complex"),
        ("builtins", "bytes"),
        ("builtins", "bytearray"),
        ("builtins", "str"),
        ("__builtin__", "list"),
        ("__builtin__", "tuple"),
        # protocol-2 pickles store bytes (numpy's raw data) as _codecs.encode(str, "latin1")
        ("_codecs", "encode"),
    }
)
# numpy's dtype classes (numpy.dtypes.Float64DType, ...) appear in pickles written by numpy >= 2.
_ALLOWED_MODULE_PREFIX_CLASSES = ("numpy.dtypes",)


class UnsafePickleError(pickle.UnpicklingError):
    """Raised when a pickle names a global outside the allow-list."""


class SafeUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` admits only numpy array building blocks."""

    def __init__(self, file, *, source: str = "<pickle>", **kwargs):
        super().__init__(file, **kwargs)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        if module in _ALLOWED_MODULE_PREFIX_CLASSES and name.endswith("DType"):
            obj = super().find_class(module, name)
            if isinstance(obj, type) and issubclass(obj, np.dtype):
                return obj
        raise UnsafePickleError(
            f"{self.source}: refused global {module}.{name}: only numpy arrays, dtypes, lists, "
            "tuples, dicts and plain numbers may be unpickled (the file may be corrupt or "
            "malicious)"
        )

    def persistent_load(self, pid):  # pragma: no cover - no persistent ids in these files
        raise UnsafePickleError(f"{self.source}: refused persistent id {pid!r}")


def _check_plain(obj: Any, source: str, depth: int = 0) -> None:
    """Walk the result: only arrays of plain dtypes, numbers, strings and containers."""
    if depth > 64:
        raise UnsafePickleError(f"{source}: nesting too deep")
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            for item in obj.flat:
                _check_plain(item, source, depth + 1)
        return
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes, np.generic)):
        return
    if isinstance(obj, (list, tuple)):
        for item in obj:
            _check_plain(item, source, depth + 1)
        return
    if isinstance(obj, dict):
        for k, item in obj.items():
            _check_plain(k, source, depth + 1)
            _check_plain(item, source, depth + 1)
        return
    raise UnsafePickleError(f"{source}: unexpected object of type {type(obj).__name__}")


def safe_loads(data: bytes, *, source: str = "<bytes>") -> Any:
    """Unpickle ``data`` with :class:`SafeUnpickler` (latin1 for Python 2 numpy pickles)."""
    try:
        obj = SafeUnpickler(io.BytesIO(data), source=source, encoding="latin1").load()
    except UnsafePickleError:
        raise
    except Exception as err:  # truncated / corrupt data
        raise UnsafePickleError(
            f"{source}: not a readable pickle ({type(err).__name__}: {err})"
        ) from err
    _check_plain(obj, source)
    return obj


def safe_load(path: str | os.PathLike) -> Any:
    """Unpickle the file at ``path`` with the restricted unpickler."""
    path = os.fspath(path)
    with open(path, "rb") as fh:
        data = fh.read()
    return safe_loads(data, source=path)
