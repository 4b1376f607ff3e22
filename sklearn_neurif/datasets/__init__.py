"""Simulated and real data sets."""

from ._simulation import make_conditional_factor_panel

__all__ = ["make_conditional_factor_panel"]
