import io
import os
import pickle

import numpy as np
import pytest
from helpers_data import require_shared_data

from remul.data.safe_pickle import UnsafePickleError, safe_load, safe_loads


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def test_plain_numpy_containers_round_trip():
    obj = ({3: np.arange(4), 7: np.zeros((2, 3))}, [np.float64(1.5), 2, 3.0], (np.int64(4), "a"))
    for proto in (2, 3, 4, 5):
        got = safe_loads(pickle.dumps(obj, protocol=proto))
        np.testing.assert_array_equal(got[0][3], np.arange(4))
        assert got[0][7].shape == (2, 3) and got[1][0] == 1.5 and got[2][1] == "a"


def test_reduce_payload_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    data = pickle.dumps([np.arange(3), _Evil(str(marker))])
    with pytest.raises(UnsafePickleError, match=r"payload\.pkl: refused global .*makedirs"):
        safe_loads(data, source="payload.pkl")
    assert not marker.exists()


@pytest.mark.parametrize("payload, name", [
    (b"cbuiltins\neval\n(S'1+1'\ntR.", "builtins.eval"),
    (b"cbuiltins\nexec\n(S'x=1'\ntR.", "builtins.exec"),
    (b"cposix\nsystem\n(S'true'\ntR.", "posix.system"),
    (b"cbuiltins\ngetattr\n(cbuiltins\nlist\nS'copy'\ntR.", "builtins.getattr"),
    (b"ccopy_reg\n_reconstructor\n(cbuiltins\nobject\ncbuiltins\nobject\nNtR.",
     "copy_reg._reconstructor"),
])
def test_dangerous_globals_are_refused(payload, name):
    with pytest.raises(UnsafePickleError, match=name.replace(".", r"\.")):
        safe_loads(payload, source="x.pkl")


def test_code_object_is_refused(tmp_path):
    import marshal

    code = compile("open('pwned', 'w')", "<x>", "exec")
    # A pickle that rebuilds a code object (marshal.loads) and would run it (types.FunctionType).
    payload = (b"cmarshal\nloads\n(" + pickle.dumps(marshal.dumps(code), protocol=0)[:-1]
               + b"tR.")
    path = tmp_path / "code.pkl"
    path.write_bytes(payload)
    with pytest.raises(UnsafePickleError, match=r"code\.pkl: refused global marshal\.loads"):
        safe_load(path)
    with pytest.raises(UnsafePickleError, match="refused global"):
        safe_loads(b"ctypes\nCodeType\n(tR.", source="fn.pkl")
    with pytest.raises(UnsafePickleError, match="types.FunctionType"):
        safe_loads(b"ctypes\nFunctionType\n(tR.", source="fn.pkl")


def test_object_arrays_of_unsafe_types_are_refused():
    arr = np.array([_Evil("nope")], dtype=object)
    with pytest.raises(UnsafePickleError):
        safe_loads(pickle.dumps(arr))


def test_truncated_pickle_is_a_clear_error(tmp_path):
    data = pickle.dumps((list(range(5)), np.arange(100)))
    path = tmp_path / "cut.pkl"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnsafePickleError, match=r"cut\.pkl: not a readable pickle"):
        safe_load(path)


def test_unpickler_is_a_pickle_unpickler_subclass():
    from remul.data.safe_pickle import SafeUnpickler

    assert issubclass(SafeUnpickler, pickle.Unpickler)
    assert SafeUnpickler(io.BytesIO(pickle.dumps([1, 2]))).load() == [1, 2]


def test_public_files_load_with_the_restricted_unpickler():
    root = require_shared_data()
    edges, X = safe_load(root / "mocap" / "motion_run.pkl")
    assert len(edges) == 30 and len(X) == 11 and X[0].shape[1:] == (31, 3)
    tr, va, te = safe_load(root / "mocap" / "split.pkl")
    assert sorted(tr) == sorted([20, 1, 17, 13, 14, 9, 4, 2, 7, 5, 16])
    for mol in ("aspirin", "benzene_old", "uracil"):
        parts = safe_load(root / "md17" / "splits" / f"{mol}_split.pkl")
        assert len(parts) == 3 and all(p.dtype == np.int64 for p in parts)
