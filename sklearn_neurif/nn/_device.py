"""Validation of the ``device`` parameter of the skorch-based estimators."""

from __future__ import annotations

import torch

__all__ = ["check_device"]

_ACCEPTED = "'cpu', 'cuda', 'cuda:N' (N a device index) or 'mps'"


def check_device(device) -> torch.device:
    """Parse a torch device string and check that the device exists here.

    Called at the start of ``fit`` so that a typo or a missing GPU is
    reported before any data is validated or any epoch is run, with a
    ``ValueError`` instead of torch's ``RuntimeError("Invalid device
    string")`` or ``AssertionError("Torch not compiled with CUDA enabled")``
    from deep inside skorch.

    Parameters
    ----------
    device : str or torch.device
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.

    Returns
    -------
    torch.device
        The parsed device.

    Raises
    ------
    TypeError
        ``device`` is neither a string nor a ``torch.device``.
    ValueError
        The string is not a torch device of an accepted type, or the device
        is not available on this machine (no CUDA / MPS, or a CUDA index
        beyond the number of visible GPUs).

    Examples
    --------
    >>> check_device("cpu")
    device(type='cpu')
    """
    if not isinstance(device, (str, torch.device)):
        raise TypeError(
            f"device must be a string such as {_ACCEPTED}; got "
            f"{type(device).__name__} {device!r}."
        )
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise ValueError(
            f"device={device!r} is not a valid torch device; use {_ACCEPTED}."
        ) from None
    if parsed.type == "cpu":
        return parsed
    if parsed.type == "cuda":
        _check_cuda(device, parsed)
        return parsed
    if parsed.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(
                f"device={device!r} was requested but the MPS backend is not "
                "available on this machine; use device='cpu'."
            )
        return parsed
    raise ValueError(
        f"device={device!r} (type {parsed.type!r}) is not supported; use {_ACCEPTED}."
    )


def _check_cuda(device, parsed: torch.device) -> None:
    if not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available "
            "(torch.cuda.is_available() is False: no GPU, no driver, or a "
            "CPU-only torch build); use device='cpu'."
        )
    count = torch.cuda.device_count()
    if parsed.index is not None and parsed.index >= count:
        raise ValueError(
            f"device={device!r} was requested but only {count} CUDA device(s) "
            f"are visible (indices 0..{count - 1})."
        )
