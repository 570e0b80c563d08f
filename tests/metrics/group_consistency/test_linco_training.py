"""LInCo on the tensors' device: no host copy in update(), forward() semantics, DDP with an empty rank."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from metrics import LINCO_CLASSIFICATION_DISPERSIONS, LINCO_REGRESSION_DISPERSIONS, InputError, LInCo, linco
from metrics.group_consistency import linco_report
from tests.distributed import compute_with_empty_rank
from tests.guards import guard_call, guard_update

RNG = np.random.default_rng(11)
TERMS = RNG.gamma(2.0, 12.0, size=(5, 60))
CHARGES = RNG.integers(0, 4, size=(5, 60))
ALL = [("regression", d) for d in LINCO_REGRESSION_DISPERSIONS] + [
    ("classification", d) for d in LINCO_CLASSIFICATION_DISPERSIONS]


def _data(task):
    return TERMS if task == "regression" else CHARGES


@pytest.mark.parametrize("task, dispersion", ALL)
@pytest.mark.parametrize("validate_args, max_syncs", [(True, 1), (False, 0)])
def test_update_makes_no_host_copy(task, dispersion, validate_args, max_syncs):
    metric = LInCo(task, dispersion, validate_args=validate_args)
    data = _data(task)
    for a, b in ((0, 25), (25, 60)):
        report = guard_update(metric, torch.from_numpy(data[:, a:b].copy()))
        assert report.host_copies == 0, report.events
        assert report.syncs <= max_syncs, report.events
        assert not report.aliased
    assert metric.compute().item() == pytest.approx(linco(data, task=task, dispersion=dispersion), rel=1e-12)


@pytest.mark.parametrize("task, dispersion", ALL)
def test_functional_on_tensors_computes_in_torch_and_matches_numpy(task, dispersion):
    data = _data(task)
    value, report = guard_call(linco, torch.from_numpy(data.copy()), task=task, dispersion=dispersion)
    assert report.host_copies == 0 and report.syncs <= 2, report.events  # checks + the returned float
    assert value == pytest.approx(linco(data, task=task, dispersion=dispersion), rel=1e-12)
    rep = linco_report(torch.from_numpy(data.copy()), task=task, dispersion=dispersion)
    np.testing.assert_allclose(rep.per_case, linco_report(data, task=task, dispersion=dispersion).per_case,
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("bad, dispersion, match", [
    ([[1.0, float("nan")], [1.0, 2.0]], "std_log1p", r"finite.*row 0, column 1"),
    ([[1.0, -1.0], [1.0, 2.0]], "std_log1p", r"> -1.*row 0, column 1"),
    ([[1.0, -3.0], [1.0, 2.0]], "cv_pop", "non-negative mean.*column 1"),
    ([[1.0, 1e308], [1.0, -1e308]], "var_pop", "exceeds the float64 range"),
])
def test_tensor_checks_give_the_numpy_messages(bad, dispersion, match):
    with pytest.raises(InputError, match=match):
        linco(torch.tensor(bad, dtype=torch.float64), dispersion=dispersion)
    with pytest.raises(InputError, match=match):
        LInCo(dispersion=dispersion).update(torch.tensor(bad, dtype=torch.float64))
    with pytest.raises(InputError, match="class labels"):
        LInCo("classification").update(torch.tensor([[0.0, 0.7], [1.0, 1.0]]))


def test_no_aliasing_of_a_refilled_buffer():
    metric = LInCo()
    buffer = torch.from_numpy(TERMS[:, :30].copy())
    metric.update(buffer)
    buffer.copy_(torch.from_numpy(TERMS[:, 30:]))
    metric.update(buffer)
    assert metric.compute().item() == pytest.approx(linco(TERMS), rel=1e-12)


def test_forward_checks_k_and_keeps_state_when_a_batch_raises():
    metric = LInCo()
    first = metric(torch.from_numpy(TERMS[:4, :20].copy()))
    assert first.item() == pytest.approx(linco(TERMS[:4, :20]), rel=1e-12)
    with pytest.raises(InputError, match="same K = 4"):
        metric(torch.from_numpy(TERMS[:3, 20:40].copy()))  # accepted before: forward() reset K
    with pytest.raises(InputError, match="finite"):
        metric(torch.tensor([[1.0, float("nan")]] * 4, dtype=torch.float64))
    second = metric(torch.from_numpy(TERMS[:4, 20:].copy()))
    assert second.item() == pytest.approx(linco(TERMS[:4, 20:]), rel=1e-12)
    assert metric.compute().item() == pytest.approx(linco(TERMS[:4]), rel=1e-12)  # both batches kept


def test_forward_undefined_batch_gives_nan_with_a_warning_and_keeps_state():
    metric = LInCo(dispersion="cv_pop")
    metric(torch.tensor([[1.0, 3.0], [3.0, 3.0]]))
    with pytest.warns(RuntimeWarning, match="every case of the batch was skipped"):
        value = metric(torch.zeros(2, 3))
    assert math.isnan(value.item())
    assert metric.compute().item() == pytest.approx(0.25, rel=1e-12)  # (0.5 + 0) / 2; 3 skipped
    assert int(metric.n_skipped) == 3


def test_empty_batches_are_accepted_and_change_nothing():
    metric = LInCo()
    metric.update(torch.from_numpy(TERMS[:, :10].copy()))
    metric.update(torch.empty(5, 0, dtype=torch.float64))
    metric.update(np.empty((5, 0)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert math.isnan(metric(torch.empty(5, 0)).item())
    assert metric.compute().item() == pytest.approx(linco(TERMS[:, :10]), rel=1e-12)
    assert int(metric.n_included) == 10


@pytest.mark.filterwarnings("ignore:The ``compute`` method")
def test_state_dict_pickle_and_deepcopy_keep_working():
    import copy
    import pickle

    metric = LInCo()
    metric.update(torch.from_numpy(TERMS.copy()))
    for other in (copy.deepcopy(metric), pickle.loads(pickle.dumps(metric))):
        assert other.compute().item() == pytest.approx(metric.compute().item(), rel=0)
    fresh = LInCo()
    fresh.load_state_dict(metric.state_dict())
    assert fresh.compute().item() == pytest.approx(metric.compute().item(), rel=0)


def test_ddp_with_an_empty_rank():
    batches = [(TERMS[:, :30],), (TERMS[:, 30:],)]
    for value in compute_with_empty_rank("metrics.LInCo", {"dispersion": "mean_abs_pairwise"}, batches):
        assert value == pytest.approx(linco(TERMS, dispersion="mean_abs_pairwise"), rel=1e-12)
