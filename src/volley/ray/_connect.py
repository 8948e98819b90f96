"""Joining Ray: connect this process unless it is already, and say whether this call did."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ray

from .._errors import ConfigurationError

__all__ = ["connect"]


def connect(address: str | None, init: Mapping[str, Any] | None) -> bool:
    """Connect this process to Ray unless it is already; whether this call connected it."""
    if ray.is_initialized():
        if init:
            raise ConfigurationError(
                "this process is already connected to Ray: init options cannot apply"
            )
        if address not in (None, "auto"):
            current = ray.get_runtime_context().gcs_address
            if address.rsplit(":", 1)[-1] != current.rsplit(":", 1)[-1]:
                raise ConfigurationError(
                    f"this process is already connected to the Ray cluster at {current}, "
                    f"not {address}"
                )
        return False
    ray.init(address=address, **(init or {}))
    return True
