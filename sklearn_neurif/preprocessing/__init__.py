"""Preprocessing of characteristics panels.

:class:`CrossSectionalRankScaler` rank-normalises each characteristic within
each period into ``[-0.5, 0.5]`` (the KPS/GKX convention) and sets missing
values to the cross-sectional median.
"""

from ._rank_scaler import CrossSectionalRankScaler, ImputationReport

__all__ = ["CrossSectionalRankScaler", "ImputationReport"]
