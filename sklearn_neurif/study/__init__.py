"""The study of the paper: IPCA vs NeurIF out of sample, with a report.

:func:`run_study` runs it from Python and returns a :class:`StudyResult`;
:func:`write_report` writes ``report.md``, PNG figures and ``metrics.json``;
the ``neurif run`` command (:func:`main`) does both.
"""

from ._cli import main
from ._data import DATA_NAMES, load_study_data, read_panel_file
from ._report import write_report
from ._study import (
    StudyResult,
    StudySettings,
    characteristic_anomalies,
    run_study,
    study_settings,
)

__all__ = [
    "DATA_NAMES",
    "StudyResult",
    "StudySettings",
    "characteristic_anomalies",
    "load_study_data",
    "main",
    "read_panel_file",
    "run_study",
    "study_settings",
    "write_report",
]
