"""Placeholder for issue 4: the ``--calibration`` part of ``metricprobe lvis``; being written.

Interface used by metrics/cli/lvis.py:
- add_calibration_arguments(parser) -> None
- calibration_section(args, gt_path, results_path) -> tuple[dict, str]  (JSON payload, text)
"""


def add_calibration_arguments(parser) -> None:
    parser.add_argument("--calibration", action="store_true", help=argparse_suppress())


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


def calibration_section(args, gt_path, results_path):
    from metrics.errors import InputError

    raise InputError("--calibration is not available yet")
