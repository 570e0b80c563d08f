"""Tests of the shared input coercion and validation helpers."""

import numpy as np
import pandas as pd
import pytest
import torch

from metrics import InputError
from metrics.core.validation import (
    as_float_array,
    as_generator,
    as_label_array,
    as_probabilities,
    check_bool,
    check_fraction,
    check_int,
    check_option,
    check_positive,
    check_same_length,
    to_numpy,
)


@pytest.mark.parametrize(
    "value",
    [
        [0.25, 0.5],
        (0.25, 0.5),
        np.array([0.25, 0.5], dtype=np.float32),
        torch.tensor([0.25, 0.5]),
        torch.tensor([0.25, 0.5], dtype=torch.bfloat16),
        pd.Series([0.25, 0.5]),
    ],
)
def test_as_float_array_accepts_common_containers(value):
    out = as_float_array(value, "x")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [0.25, 0.5])


def test_torch_tensor_requiring_grad_is_accepted():
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    np.testing.assert_array_equal(as_float_array(t, "x"), [1.0, 2.0])


def test_input_is_not_modified_and_result_is_independent_for_float64():
    x = np.array([0.1, 0.2])
    before = x.copy()
    out = as_float_array(x, "x")
    np.testing.assert_array_equal(x, before)
    assert out.dtype == np.float64


@pytest.mark.parametrize(
    "value, message",
    [
        ([1.0, np.nan], "x must be finite numbers; element 1 is nan"),
        ([[1.0, 2.0], [np.inf, 0.0]], "x must be finite numbers; row 1, column 0 is inf"),
        ([], "x must not be empty"),
        ("abc", "x must be array-like; got a string"),
        (None, "x is required; got None"),
        ([[1.0], [1.0, 2.0]], "x must"),
        (np.array(["a", "b"]), "x must hold numbers"),
    ],
)
def test_as_float_array_errors_name_the_argument(value, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        as_float_array(value, "x")


def test_ndim_and_bounds_messages():
    with pytest.raises(InputError, match=r"x must be a 1-D array of numbers; got shape \(2, 2\)"):
        as_float_array(np.zeros((2, 2)), "x", ndim=1)
    with pytest.raises(InputError, match=r"in \[0, 1\]; element 2 is 1.5"):
        as_float_array([0.0, 0.5, 1.5], "x", min_value=0, max_value=1)


def test_labels_accept_bools_ints_and_integral_floats():
    np.testing.assert_array_equal(as_label_array([True, False]), [1, 0])
    np.testing.assert_array_equal(as_label_array(np.array([2.0, 0.0])), [2, 0])
    np.testing.assert_array_equal(as_label_array(torch.tensor([3, 1])), [3, 1])
    assert as_label_array([1, 2]).dtype == np.int64


@pytest.mark.parametrize(
    "value, kwargs, message",
    [
        ([0.5, 1.0], {}, "labels must be integer labels; element 0 is 0.5"),
        ([0, -1], {}, "labels must be integer labels in ≥ 0; element 1 is -1"),
        ([0, 3], {"n_classes": 3}, r"labels must be integer labels in \[0, 3\); element 1 is 3"),
        ([0, np.nan], {}, "labels must be integer labels; element 1 is nan"),
        ([], {}, "labels must not be empty"),
    ],
)
def test_label_errors(value, kwargs, message):
    with pytest.raises(InputError, match=message):
        as_label_array(value, **kwargs)


def test_probabilities_row_sum_message():
    p = np.full((20, 2), 0.5)
    p[17] = [0.8, 0.5]
    with pytest.raises(InputError, match="row 17 sums to 1.3"):
        as_probabilities(p)
    with pytest.raises(InputError, match=r"probabilities in \[0, 1\]; row 0, column 1 is 1.2"):
        as_probabilities([[0.0, 1.2]])
    as_probabilities([[0.5, 0.5005]])  # within the 1e-3 tolerance
    assert as_probabilities([0.3, 1.0]).ndim == 1


def test_scalar_checks():
    assert check_option("l1", "norm", ("l1", "l2")) == "l1"
    with pytest.raises(InputError, match="norm must be one of 'l1', 'l2'; got 'l3'"):
        check_option("l3", "norm", ("l1", "l2"))
    with pytest.raises(InputError, match="compat must be one of None, 'netcal'; got True"):
        check_option(True, "compat", (None, "netcal"))
    assert check_int(np.int64(3), "n_bins", min_value=1) == 3
    for bad in (0, 1.5, True, "3"):
        with pytest.raises(InputError, match="n_bins must be an integer"):
            check_int(bad, "n_bins", min_value=1)
    assert check_positive(0.4, "bandwidth") == 0.4
    with pytest.raises(InputError, match="bandwidth must be > 0; got 0.0"):
        check_positive(0, "bandwidth")
    with pytest.raises(InputError, match="bandwidth must be finite"):
        check_positive(float("inf"), "bandwidth")
    assert check_fraction(0.9, "confidence") == 0.9
    with pytest.raises(InputError, match=r"confidence must be a fraction in \(0, 1\); got 1.0"):
        check_fraction(1, "confidence")
    assert check_bool(np.bool_(True), "debiased") is True
    with pytest.raises(InputError, match="debiased must be True or False"):
        check_bool(1, "debiased")


def test_same_length_and_generator():
    assert check_same_length(a=np.zeros(3), b=[1, 2, 3]) == 3
    with pytest.raises(InputError, match="a, b must have the same number of rows; a has 3, b has 2"):
        check_same_length(a=np.zeros(3), b=[1, 2])
    g = np.random.default_rng(1)
    assert as_generator(g) is g
    assert as_generator(5).integers(0, 1000) == np.random.default_rng(5).integers(0, 1000)
    with pytest.raises(InputError, match="seed must be"):
        as_generator("x")


def test_to_numpy_pandas_frame_and_torch_device_cpu():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    np.testing.assert_array_equal(to_numpy(frame, "f"), [[1, 3], [2, 4]])
    with pytest.raises(InputError, match="must be real-valued"):
        to_numpy(np.array([1 + 2j]), "z")


# --- any memory layout is accepted, and the result is safe for torch.from_numpy ---------------

def _layouts():
    base = np.arange(24, dtype=np.float64).reshape(4, 6) / 24
    return {
        "negative strides": base[::-1],
        "negative strides both axes": base[::-1, ::-1],
        "non-contiguous": base[:, ::2],
        "fortran order": np.asfortranarray(base),
        "transposed": base.T,
        "view of a view": base[::-1][1:, ::-1][::2],
        "broadcast": np.broadcast_to(base[:1], (4, 6)),
        "read-only": np.frombuffer(base.tobytes(), dtype=np.float64).reshape(4, 6),
        "big-endian": base.astype(">f8"),
    }


@pytest.mark.parametrize("layout", list(_layouts()))
def test_every_layout_gives_a_plain_contiguous_array_with_the_same_values(layout):
    x = _layouts()[layout]
    out = as_float_array(x, "x")
    assert out.flags.c_contiguous and out.flags.writeable and all(s >= 0 for s in out.strides)
    assert out.dtype == np.float64 and out.dtype.isnative
    np.testing.assert_array_equal(out, np.array(x.tolist()))
    torch.from_numpy(out)  # raised "negative strides" before


@pytest.mark.parametrize("layout", ["negative strides", "non-contiguous", "fortran order"])
def test_labels_of_every_layout(layout):
    base = np.arange(24, dtype=np.int64).reshape(4, 6) % 5
    y = {"negative strides": base[::-1], "non-contiguous": base[:, ::2], "fortran order": np.asfortranarray(base)}[layout]
    out = as_label_array(y, ndim=2)
    assert out.flags.c_contiguous and all(s >= 0 for s in out.strides)
    np.testing.assert_array_equal(out, np.array(y.tolist()))
    torch.from_numpy(out)


def test_negative_strides_through_to_numpy_and_torch():
    x = np.arange(5.0)[::-1]
    np.testing.assert_array_equal(torch.from_numpy(to_numpy(x, "x")).numpy(), [4, 3, 2, 1, 0])
    t = torch.arange(12.0).reshape(3, 4).t()  # non-contiguous tensor
    out = to_numpy(t, "t")
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, t.numpy())


def test_copy_true_never_shares_memory_with_the_input():
    x = np.linspace(0, 1, 6)
    t = torch.linspace(0, 1, 6)
    s = pd.Series(x, index=[10, 3, 7, 1, 2, 9])
    for value in (x, t, s):
        for out in (to_numpy(value, "x", copy=True), as_float_array(value, "x", copy=True, dtype=None),
                    as_probabilities(value, copy=True)):
            before = out.copy()
            if isinstance(value, torch.Tensor):
                value.mul_(1.0).add_(0.5)
            else:
                x[:] = x + 0.5
            np.testing.assert_array_equal(out, before)
            x[:] = np.linspace(0, 1, 6)
            t.copy_(torch.linspace(0, 1, 6))
    y = np.array([0, 1, 2])
    lab = as_label_array(y, copy=True)
    y[0] = 2
    assert lab[0] == 0


def test_default_does_not_copy_a_plain_float64_array():
    x = np.linspace(0, 1, 6)
    assert as_float_array(x, "x") is x


def test_pandas_with_a_non_default_index_is_taken_by_position():
    s = pd.Series([0.1, 0.2, 0.3], index=[7, 2, 5])
    np.testing.assert_array_equal(as_float_array(s, "x"), [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(as_label_array(pd.Series([2, 0, 1], index=["c", "a", "b"])), [2, 0, 1])
    frame = pd.DataFrame({"a": [0.2, 0.8], "b": [0.8, 0.2]}, index=[5, 1])
    np.testing.assert_array_equal(as_probabilities(frame), [[0.2, 0.8], [0.8, 0.2]])


def test_pandas_nullable_dtypes_report_missing_values_as_nan():
    with pytest.raises(InputError, match="x must be finite numbers; element 1 is nan"):
        as_float_array(pd.Series([1.0, None], dtype="Float64"), "x")
    np.testing.assert_array_equal(as_label_array(pd.Series([1, 2], dtype="Int64")), [1, 2])


def test_tensors_with_grad_non_contiguous_and_subclasses():
    t = torch.rand(3, 4, requires_grad=True)
    out = as_float_array(t.t(), "x")
    np.testing.assert_array_equal(out, t.detach().t().numpy())
    np.testing.assert_array_equal(as_float_array(torch.tensor([1.0, 2.0]).neg(), "x"), [-1.0, -2.0])

    class Sub(torch.Tensor):
        pass

    np.testing.assert_array_equal(as_float_array(torch.tensor([1.0, 2.0]).as_subclass(Sub), "x"), [1.0, 2.0])
    with pytest.raises(InputError, match="x must be real-valued"):
        as_float_array(torch.tensor([1 + 1j]), "x")


def test_float_labels_report_the_real_value():
    y = np.array([0.0, 1.0, 1e20])
    with pytest.raises(InputError, match=r"labels must be integer labels in \[0, 3\); element 2 is 1e\+20"):
        as_label_array(y, n_classes=3)
    with pytest.raises(InputError, match=r"labels must be integer labels that fit in int64; element 2 is 1e\+20"):
        as_label_array(y)
    with pytest.raises(InputError, match=r"element 0 is -1e\+20"):
        as_label_array([-1e20, 1.0])
    big = np.array([1, 2**64 - 1], dtype=np.uint64)
    with pytest.raises(InputError, match="labels must be integer labels that fit in int64; element 1 is 18446744073709551615"):
        as_label_array(big)


@pytest.mark.parametrize("value", [[0.7, 1.0], [1.0, 2.5], torch.tensor([0.0, 0.7]), [1.0, -0.5]])
def test_non_integer_float_labels_are_rejected_not_truncated(value):
    with pytest.raises(InputError, match="labels must be integer labels; element"):
        as_label_array(value)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix itself warns
def test_masked_arrays_and_matrices():
    m = np.ma.masked_array([0.1, 0.2, 0.3], mask=[False, True, False])
    with pytest.raises(InputError, match="x must be finite numbers; element 1 is nan"):
        as_float_array(m, "x")
    with pytest.raises(InputError, match="labels must not hold masked values; element 0 is masked"):
        as_label_array(np.ma.masked_array([1, 2], mask=[True, False]))
    np.testing.assert_array_equal(as_float_array(np.ma.masked_array([0.5, 1.0]), "x"), [0.5, 1.0])
    out = as_float_array(np.matrix([[1.0, 2.0], [3.0, 4.0]]), "x")
    assert type(out) is np.ndarray and out.shape == (2, 2)
