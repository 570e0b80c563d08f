"""Placeholder for issue 4: TP/FP labelling, detection_ece, detection_calibration_report; being written."""

__all__: list[str] = []
