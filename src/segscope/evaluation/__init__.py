"""Evaluation runs (config -> one streaming pass -> serialisable results) and the HTML report.

>>> from segscope.evaluation import EvaluationConfig
>>> EvaluationConfig(task="semantic").missing
'error'
"""

from segscope.evaluation.report import error_map, render_report, write_report
from segscope.evaluation.run import SCHEMA, EvaluationConfig, EvaluationResults, evaluate

__all__ = [
    "SCHEMA",
    "EvaluationConfig",
    "EvaluationResults",
    "evaluate",
    "error_map",
    "render_report",
    "write_report",
]
