"""The study of the paper: a walk-forward comparison of models, with a report.

:func:`run_study` runs it from Python and returns a :class:`StudyResult`;
:func:`write_report` writes ``report.md``, PNG figures and ``metrics.json``;
the ``neurif run`` command (:func:`main`) does both. Names are imported on
first use, so ``neurif --help`` does not import torch.
"""

from .._lazy import lazy_attributes

_LAZY = {
    "main": "._cli",
    "build_parser": "._cli",
    "DATA_NAMES": "._data",
    "MODEL_NAMES": "._models",
    "StudyData": "._data",
    "load_study_data": "._data",
    "read_panel_file": "._data",
    "write_report": "._report",
    "StudyResult": "._result",
    "StudySettings": "._settings",
    "characteristic_anomalies": "._anomaly",
    "run_study": "._study",
    "study_settings": "._settings",
}

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)

__all__ = sorted(_LAZY)  # every public name of the study is lazy
