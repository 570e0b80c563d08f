"""Every public name of ``metrics``, ``diagnostics`` and ``reference_models``, with example inputs.

``REGISTRY`` holds the array-taking functions and Metric classes the battery exercises;
``EXEMPT`` every other public name with the reason it takes no array (a result type, a
model, a callback...). A public name in neither fails the battery, so a new function
cannot land without its example inputs.

The examples are small and lie on a grid exactly representable in float16, so the
float16 / float32 / float64 cases see the same numbers and must give the same value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.battery.runner import Entry, Example

# ---------------------------------------------------------------- example data


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def grid_probs(n: int = 40, k: int = 3, seed: int = 0) -> np.ndarray:
    """Rows of multiples of 1/64 that sum exactly to 1."""
    rng = _rng(seed)
    counts = rng.multinomial(64, rng.dirichlet(np.ones(k)), size=n).astype(np.float64)
    return counts / 64.0


def labels(n: int = 40, k: int = 3, seed: int = 1) -> np.ndarray:
    y = _rng(seed).integers(0, k, n)
    y[:k] = np.arange(k)  # every class present
    return y


def grid_normal(shape: tuple[int, ...], seed: int = 2, step: float = 1 / 256, bound: float = 4.0) -> np.ndarray:
    x = _rng(seed).normal(size=shape)
    return np.clip(np.round(x / step) * step, -bound, bound)


def grid_uniform(shape: tuple[int, ...], seed: int = 3, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    x = _rng(seed).uniform(lo, hi, size=shape)
    return np.round(x * 256) / 256


def embeddings(n: int = 40, d: int = 8, n_classes: int = 4, seed: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = _rng(seed)
    y = np.repeat(np.arange(n_classes), n // n_classes)
    centers = rng.normal(size=(n_classes, d))
    x = centers[y] + 0.8 * rng.normal(size=(n, d))
    return np.round(x * 256) / 256, y


def survival(n: int = 40, seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = _rng(seed)
    risk = grid_normal((n,), seed=seed)
    time = rng.permutation(np.arange(1, n + 1)).astype(np.float64) / 4  # distinct times
    event = (rng.uniform(size=n) < 0.7).astype(np.int64)
    event[:2] = 1
    return risk, time, event


def losses_and_policy(t: int = 30, k: int = 4, seed: int = 6) -> tuple[np.ndarray, np.ndarray]:
    return grid_uniform((t, k), seed=seed), grid_probs(t, k, seed=seed + 1)


def accuracy_matrix(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    acc = grid_uniform((20, 3), seed=seed)
    current = np.repeat([0, 1, 2], [7, 7, 6])
    return acc, current


# ---------------------------------------------------------------- value adaptors


def _functional(name: str, **kwargs):
    def call(*args):
        import importlib

        package, attr = name.split(".", 1)
        return getattr(importlib.import_module(package), attr)(*args, **kwargs)

    return call


def _training_op(arg: str) -> dict[str, str]:
    """A differentiable op inside a training step: non-finite values propagate as in torch."""
    reason = ("a differentiable op inside the training step: NaN/inf propagate as in torch "
              "(a check would synchronise the device every step)")
    return {f"{c}:{arg}": reason for c in ("nan", "posinf", "neginf", "huge")}


def _cosines(result):
    """Only the cosines of an alignment result are scale-free."""
    def walk(v):
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items() if isinstance(x, dict) or k in ("cos", "global_cos")}
        return v

    from tests.battery.runner import comparable

    return walk(comparable(result))


def _regret_functional(preds, losses):
    import metrics

    return metrics.external_regret(preds, losses)


# ---------------------------------------------------------------- entries

P, Y = grid_probs(), labels()
CAL: dict[str, Any] = dict(build=lambda: Example((P, Y)), arrays={"probs": "prob", "labels": "label"}, aligned=("probs", "labels"))
X, XY = embeddings()
EMB: dict[str, Any] = dict(arrays={"embeddings": "float", "labels": "label"}, aligned=("embeddings", "labels"),
           scale_free={"embeddings": "global"})
RISK, TIME, EVENT = survival()
INF_RISK = "an infinite risk has a defined order (lifelines scores with predict_median, +inf for many subjects)"
def _flat_2d(*args: str) -> dict[str, str]:
    reason = ("a single-row or single-column 2-D array holds one vector and is flattened (documented: "
              "survival models' predict() often returns (n, 1))")
    return {f"extra_dim:{a}": reason for a in args}


SURV: dict[str, Any] = dict(arrays={"risk": "float", "time": "float", "event": "bool"}, aligned=("risk", "time", "event"),
            scale_free={"risk": "global"},
            accepts={"posinf:risk": INF_RISK, "neginf:risk": INF_RISK, **_flat_2d("risk", "time", "event")},
            not_applicable={"scale_1e-200:risk": "risks closer than the absolute tied_tol count as tied (documented, "
                                                 "lifelines-compatible); a scale of 1e-200 ties every pair"})
LOSSES, POLICY = losses_and_policy()
REG: dict[str, Any] = dict(arrays={"preds": "prob", "losses": "float"}, aligned=("preds", "losses"))
ACC, CURRENT = accuracy_matrix()
CONT: dict[str, Any] = dict(build=lambda: Example((ACC, CURRENT)), arrays={"acc": "float", "current_task": "int"},
            aligned=("acc", "current_task"))
LOGITS, LOGIT_LABELS = grid_normal((20, 5), seed=8), labels(20, 5, seed=9)
ANY_BATCH_SHAPE = "logits of shape (..., C) take any batch shape"
COLLAPSE: dict[str, Any] = dict(build=lambda: Example((LOGITS, LOGIT_LABELS)), arrays={"logits": "float", "labels": "label"},
                aligned=("logits", "labels"), accepts={"extra_dim:logits": ANY_BATCH_SHAPE})
ANY_SHAPE = "a gradient or parameter tensor may have any shape"
NO_DIRECTION = "an empty tensor has no direction: the cosine is undefined (None) or an InputError"
Q, K = grid_normal((2, 3, 5, 4), seed=10), grid_normal((2, 3, 5, 4), seed=11)
GAME = grid_uniform((3, 2), seed=12), grid_uniform((3, 2), seed=13), grid_probs(20, 3, seed=14), grid_probs(20, 2, seed=15)
LIN = grid_uniform((4, 30), seed=16, hi=4.0)  # K = 4 group models x 30 cases


def _entries() -> list[Entry]:
    e: list[Entry] = []
    # --- calibration
    e += [
        Entry("metrics.calibration_error", **CAL),
        Entry("metrics.mmce", **CAL),
        Entry("metrics.smooth_ece", **CAL),
        Entry("metrics.calibration_report", **CAL),
        Entry("metrics.brier_score", **CAL),
        Entry("metrics.CalibrationError", metric_init={"n_bins": 10},
              functional=_functional("metrics.calibration_error", n_bins=10),
              build=lambda: Example((P, Y)), arrays={"preds": "prob", "target": "label"}, aligned=("preds", "target")),
    ]
    # --- concordance
    for name in ("concordance_index", "concordance_report", "uno_concordance_index"):
        e.append(Entry(f"metrics.{name}", build=lambda: Example((RISK, TIME, EVENT)), **SURV))
    surv_curves = np.sort(grid_uniform((40, 6), seed=17), axis=1)[:, ::-1].copy()
    e.append(Entry("metrics.time_dependent_concordance",
                   build=lambda: Example((surv_curves, np.linspace(0.5, 10, 6), TIME, EVENT)),
                   arrays={"survival": "prob", "time_grid": "float", "time": "float", "event": "bool"},
                   aligned=("survival", "time", "event"), accepts=_flat_2d("time_grid", "time", "event")))
    e.append(Entry("metrics.ConcordanceIndex", metric_init={}, functional=_functional("metrics.concordance_index"),
                   build=lambda: Example((RISK, TIME, EVENT)),
                   **SURV))
    # --- group consistency
    for name in ("linco", "linco_report", "linco_per_case"):
        e.append(Entry(f"metrics.{name}", build=lambda: Example((LIN,)), arrays={"predictions": "float"}))
    e.append(Entry("metrics.LInCo", metric_init={}, functional=_functional("metrics.linco"), batch_axis=1,
                   build=lambda: Example((LIN,)), arrays={"predictions": "float"}))
    # --- detection (array-taking part)
    scores, matched = grid_uniform((50,), seed=18), _rng(19).integers(0, 2, 50).astype(bool)
    e.append(Entry("metrics.detection_ece", build=lambda: Example((scores, matched)),
                   arrays={"scores": "prob", "matched": "bool"}, aligned=("scores", "matched")))
    e.append(Entry("metrics.reliability_bins", build=lambda: Example((scores, matched), {"n_bins": 5}),
                   arrays={"scores": "prob", "matched": "bool"}, aligned=("scores", "matched")))
    # --- regret
    for name in ("external_regret", "dynamic_regret", "swap_regret", "regret_curve", "regret_report"):
        e.append(Entry(f"metrics.{name}", build=lambda: Example((POLICY, LOSSES)), **REG))
    for name in ("variation_budget", "best_action_switches"):
        e.append(Entry(f"metrics.{name}", build=lambda: Example((LOSSES,)), arrays={"losses": "float"}))
    for name in ("game_regret", "cce_gap"):
        e.append(Entry(f"metrics.{name}",
                       build=lambda: Example((GAME[2], GAME[3]), {"payoff_row": GAME[0], "payoff_col": GAME[1]}),
                       arrays={"preds_row": "prob", "preds_col": "prob", "payoff_row": "float", "payoff_col": "float"},
                       aligned=("preds_row", "preds_col")))
    e.append(Entry("metrics.contextual_bandit_regret",
                   build=lambda: Example((_rng(20).integers(0, 3, 30), grid_uniform((30, 3), seed=21))),
                   arrays={"actions": "int", "expected_reward": "float"}, aligned=("actions", "expected_reward")))
    e.append(Entry("metrics.no_regret_test", build=lambda: Example((np.round(np.sqrt(np.arange(1.0, 65.0)) * 64) / 64,)),
                   arrays={"curve": "float"}, rtol=1e-6))
    e.append(Entry("metrics.Regret", metric_init={"n_actions": 4}, functional=_regret_functional,
                   build=lambda: Example((POLICY, LOSSES)), arrays={"preds": "prob", "losses": "float"},
                   aligned=("preds", "losses")))
    # --- threshold consistency and retrieval
    for name in ("opis", "epsilon_opis", "opis_report", "r_precision", "map_at_r"):
        e.append(Entry(f"metrics.{name}", build=lambda: Example((X, XY)), **EMB))
    e.append(Entry("metrics.recall_at_k", build=lambda: Example((X, XY), {"k": (1, 2)}), **EMB))
    e.append(Entry("metrics.OPIS", metric_init={}, functional=_functional("metrics.opis"),
                   build=lambda: Example((X, XY)), **EMB))
    # --- diagnostics: collapse and logits
    for name in ("softmax_collapse_fraction", "softmax_collapse_report"):
        e.append(Entry(f"diagnostics.{name}", **COLLAPSE))
    loss_arithmetic = {c: "a loss term computed in the logits' dtype, float32 at least (documented)"
                       for c in ("float16:logits", "float32:logits")}
    for name in ("z_loss", "output_logit_stats"):
        e.append(Entry(f"diagnostics.{name}", **{**COLLAPSE, "not_applicable": loss_arithmetic}))
    e.append(Entry("diagnostics.zero_loss_fraction", build=lambda: Example((LOGITS, LOGIT_LABELS)),
                   arrays={"losses_or_logits": "float", "labels": "label"}, aligned=("losses_or_logits", "labels"),
                   accepts={"extra_dim:losses_or_logits": ANY_BATCH_SHAPE}))
    # --- diagnostics: alignment
    w, g = grid_normal((6, 4), seed=22), grid_normal((6, 4), seed=23) / 64
    dtype_defined = {"float16": "the result is defined in the input's dtype",
                     "float32": "the result is defined in the input's dtype"}
    tiny = grid_normal((6, 4), seed=23) * 2**-20  # lr * tiny is absorbed by float32 weights, not float64 ones
    e.append(Entry("diagnostics.update_absorption_fraction", build=lambda: Example((w, tiny), {"lr": 2**-5}),
                   arrays={"weights": "float", "grads": "float"}, aligned=("weights", "grads"),
                   not_applicable=dtype_defined, accepts={"extra_dim:weights": ANY_SHAPE, "extra_dim:grads": ANY_SHAPE}))
    e.append(Entry("diagnostics.nlm_alignment", build=lambda: Example((w, g)), torch_only=True,
                   arrays={"params": "float", "grads": "float"}, aligned=("params", "grads"),
                   scale_free={"params": "global", "grads": "global"}, value=_cosines,
                   accepts={"extra_dim:params": ANY_SHAPE, "extra_dim:grads": ANY_SHAPE, "empty": NO_DIRECTION}))
    e.append(Entry("diagnostics.nlm_logit_alignment", build=lambda: Example((LOGITS, grid_normal((20, 5), seed=24))),
                   arrays={"logits": "float", "logit_grads": "float"}, aligned=("logits", "logit_grads"),
                   accepts={"extra_dim:logits": ANY_BATCH_SHAPE, "extra_dim:logit_grads": ANY_BATCH_SHAPE}))
    e.append(Entry("diagnostics.gradient_cosine", build=lambda: Example((w, g)), torch_only=True,
                   arrays={"a": "float", "b": "float"}, aligned=("a", "b"), scale_free={"a": "global", "b": "global"},
                   value=_cosines, accepts={"extra_dim:a": ANY_SHAPE, "extra_dim:b": ANY_SHAPE, "empty": NO_DIRECTION}))
    lp = [grid_normal((6,), seed=s) - 4 for s in (25, 26, 27, 28)]
    e.append(Entry("diagnostics.preference_coefficients", build=lambda: Example(("dpo", *lp)), torch_only=True,
                   arrays={"logp_w": "float", "logp_l": "float", "ref_w": "float", "ref_l": "float"},
                   aligned=("logp_w", "logp_l", "ref_w", "ref_l"),
                   accepts={k: v for a in ("logp_w", "logp_l", "ref_w", "ref_l")
                            for k, v in {f"extra_dim:{a}": "log-probabilities may carry any batch shape",
                                         **_training_op(a)}.items()} | {"empty": "an empty batch of pairs is valid"}))
    # --- diagnostics: continual evaluation
    e += [Entry(f"diagnostics.{n}", **CONT) for n in ("min_acc", "wc_acc")]
    e += [Entry(f"diagnostics.{n}", **{**CONT, "build": lambda: Example((ACC, CURRENT), {"window": 3})})
          for n in ("windowed_forgetting", "windowed_plasticity")]
    e.append(Entry("diagnostics.continual_eval_report", **{**CONT, "build": lambda: Example((ACC, CURRENT), {"windows": (3,)})}))
    # --- diagnostics: instability
    for name in ("max_attention_logit", "attention_logit_bound"):
        e.append(Entry(f"diagnostics.{name}", build=lambda: Example((Q, K)), arrays={"q": "float", "k": "float"},
                       aligned=("q", "k")))
    diverged = "a NaN or infinite final loss is a diverged run, capped at initial_loss (documented)"
    e.append(Entry("diagnostics.lr_sensitivity", accepts={f"{c}:final_losses": diverged for c in ("nan", "posinf", "neginf")},
                   build=lambda: Example((grid_uniform((5,), seed=29, lo=1, hi=2),), {"initial_loss": 3.0,
                                                                                        "lrs": np.logspace(-3, -1, 5)}),
                   arrays={"final_losses": "float"}))
    # --- reference models (array-taking functions)
    e.append(Entry("reference_models.expected_regret",
                   build=lambda: Example((grid_uniform((2, 10, 3), seed=30), grid_probs(20, 3, seed=31).reshape(2, 10, 3))),
                   torch_only=True, arrays={"losses": "float", "policies": "prob"}, aligned=("losses", "policies")))
    e.append(Entry("reference_models.regret_loss", build=lambda: Example((grid_normal((10,), seed=32),)),
                   torch_only=True, arrays={"regrets": "float"}, not_applicable=dtype_defined,
                   accepts=_training_op("regrets")))
    for name in ("stablemax", "log_stablemax"):
        e.append(Entry(f"reference_models.{name}", build=lambda: Example((grid_normal((4, 5), seed=33),)),
                       torch_only=True, arrays={"x": "float"}, not_applicable=dtype_defined,
                       accepts={**_training_op("x"), "extra_dim:x": "elementwise along dim: any shape",
                                "scalar:x": "elementwise along dim: any shape", "empty": "an empty batch is valid"}))
    e.append(Entry("reference_models.perpendicular_gradient", build=lambda: Example((w, g)), torch_only=True,
                   arrays={"weight": "float", "grad": "float"}, aligned=("weight", "grad"), not_applicable=dtype_defined,
                   accepts={"extra_dim:weight": ANY_SHAPE, "extra_dim:grad": ANY_SHAPE, "empty": "an empty tensor is valid",
                            **_training_op("weight"), **_training_op("grad")}))
    e.append(Entry("reference_models.run", build=lambda: Example((_hedge(4, 30), LOSSES)),
                   arrays={"losses": "float"}))
    e.append(Entry("reference_models.play_repeated_game",
                   build=lambda: Example((_hedge(3, 20), _hedge(2, 20), GAME[0], GAME[1], 20)),
                   arrays={"payoff_row": "float", "payoff_col": "float"}))
    gx = grid_normal((60, 3), seed=34)
    TEXT_FRAME = "a DataFrame X means text or fact descriptions (documented), for make_text_model"
    gy = np.round(np.abs(gx @ np.ones(3)) * 64) / 64
    gg = np.repeat([0, 1, 2], 20)
    e.append(Entry("reference_models.fit_group_models", build=lambda: Example((gx, gy, gg)),
                   arrays={"X": "float", "y": "float", "groups": "int"}, aligned=("X", "y", "groups"), rtol=1e-7,
                   not_applicable={"pandas_index:X": TEXT_FRAME}))
    e.append(Entry("reference_models.linco_from_data", build=lambda: Example((gx, gy, gg), {"n_repeats": 1}),
                   arrays={"X": "float", "y": "float", "groups": "int"}, aligned=("X", "y", "groups"), rtol=1e-7,
                   not_applicable={"pandas_index:X": TEXT_FRAME}))
    return e


def _hedge(n: int, horizon: int):
    import reference_models

    return reference_models.Hedge(n, horizon=horizon)


REGISTRY: dict[str, Entry] = {entry.name: entry for entry in _entries()}

_RESULT = "a result or report type (constructed by the functions above, not by users with arrays)"
_MODEL = "takes a model, a module or a callable, not arrays"
_CONST = "a constant"
EXEMPT: dict[str, str] = {
    # metrics
    "metrics.InputError": "the exception type",
    "metrics.CalibrationReport": _RESULT,
    "metrics.ConcordanceReport": _RESULT,
    "metrics.LincoReport": _RESULT,
    "metrics.LINCO_CLASSIFICATION_DISPERSIONS": _CONST,
    "metrics.LINCO_REGRESSION_DISPERSIONS": _CONST,
    "metrics.evaluate_lvis": "takes LVIS/COCO records (dicts, files, LVIS objects), exercised by the detection tests",
    "metrics.ap_fixed": "takes LVIS/COCO records, exercised by the detection tests",
    "metrics.ap_pool": "takes LVIS/COCO records, exercised by the detection tests",
    "metrics.match_detections": "takes LVIS/COCO records, exercised by the detection tests",
    "metrics.label_detections": "takes LVIS/COCO records, exercised by the detection tests",
    "metrics.detection_calibration_report": "takes LVIS/COCO records, exercised by the detection tests",
    "metrics.DetectionMatches": _RESULT,
    "metrics.evaluate_coco": "takes COCO records (dicts, files, COCO objects), exercised by the detection tests",
    "metrics.detection_categories": "takes COCO/LVIS ground truth records",
    "metrics.COCOReport": _RESULT,
    "metrics.LVISReport": _RESULT,
    "metrics.DetectionCalibrationReport": _RESULT,
    "metrics.NoRegretTestResult": _RESULT,
    "metrics.RegretReport": _RESULT,
    "metrics.OPISReport": _RESULT,
    "metrics.log_spaced_rounds": "takes an integer, not an array",
    # diagnostics
    "diagnostics.InputError": "the exception type",
    "diagnostics.Monitor": _MODEL,
    "diagnostics.MonitorAlert": _RESULT,
    "diagnostics.MonitorWarning": "a warning type",
    "diagnostics.LightningMonitorCallback": _MODEL,
    "diagnostics.HFMonitorCallback": _MODEL,
    "diagnostics.SoftmaxCollapseReport": _RESULT,
    "diagnostics.AlignmentResult": _RESULT,
    "diagnostics.TensorAlignment": _RESULT,
    "diagnostics.SoftmaxCollapseMonitor": _MODEL,
    "diagnostics.CollapseDetected": _RESULT,
    "diagnostics.AlignmentRecord": _RESULT,
    "diagnostics.ConflictResult": _RESULT,
    "diagnostics.PlasticityStabilityResult": _RESULT,
    "diagnostics.plasticity_stability": "takes losses with an autograd graph and the parameters they depend on",
    "diagnostics.sequence_logps": _MODEL,
    "diagnostics.EntanglementPair": _RESULT,
    "diagnostics.EntanglementReport": _RESULT,
    "diagnostics.gradient_entanglement": _MODEL,
    "diagnostics.GradientAlignmentMonitor": _MODEL,
    "diagnostics.ContinualEvalReport": _RESULT,
    "diagnostics.ContinualEvaluationMonitor": _MODEL,
    "diagnostics.QKRecorder": _MODEL,
}
_REFERENCE_NOT_ARRAY_TAKING = {
    "InputError": "the exception type",
    "TemperatureScaling": "a calibrator class (fit/transform), exercised by its own tests",
    "HistogramBinning": "a calibrator class (fit/transform), exercised by its own tests",
    "PlattScaling": "a calibrator class (fit/transform), exercised by its own tests",
    "IsotonicCalibration": "a calibrator class (fit/transform), exercised by its own tests",
    "CorrectnessAwareCalibrator": "a calibrator class (fit/transform), exercised by its own tests",
    "DetectionCalibrator": "a calibrator class for LVIS/COCO records",
    "TCMLoss": "a torch.nn.Module loss",
    "OPISExperimentResult": _RESULT,
    "run_opis_experiment": "a reference experiment with no array input",
    "CoxPHLoss": "a torch.nn.Module loss",
    "DiscreteHazardLoss": "a torch.nn.Module loss",
    "SurvivalModelResult": _RESULT,
    "fit_reference_survival_model": "a reference experiment on a bundled data set",
    "load_survival_dataset": "loads a bundled data set by name",
    "GroupModels": _RESULT,
    "TorchEstimator": "an estimator class",
    "linco_sample_path": "returns a path",
    "linco_synthetic_experiment": "a reference experiment with no array input",
    "make_linco_synthetic": "generates data from parameters",
    "make_text_model": "builds a scikit-learn pipeline",
    "Hedge": "an online learner class",
    "FollowTheLeader": "an online learner class",
    "FTRL": "an online learner class",
    "EXP3": "an online learner class",
    "NeuralEpsilonGreedy": "an online learner class",
    "RegretExperimentResult": _RESULT,
    "run_regret_experiment": "a reference experiment with no array input",
    "StableMaxCrossEntropy": "a torch.nn.Module loss",
    "PerpGrad": "an optimizer wrapper",
    "ModularAdditionTask": "a reference task",
    "GrokkingMLP": "a torch.nn.Module",
    "GrokkingHistory": _RESULT,
    "run_grokking": "a reference experiment with no array input",
    "TinyCausalLM": "a torch.nn.Module",
    "DPOEntanglementResult": _RESULT,
    "run_dpo_entanglement": "a reference experiment with no array input",
    "SplitDigitsResult": _RESULT,
    "run_split_digits_continual": "a reference experiment with no array input",
}
EXEMPT.update({f"reference_models.{k}": v for k, v in _REFERENCE_NOT_ARRAY_TAKING.items()})

PACKAGES = ("metrics", "diagnostics", "reference_models")
