"""How an experiment's test sets are enhanced: its `enhance:` section over the global one."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from sepflow.specs import Flag, Number, Spec


class EnhanceDefaults(Spec):
    """The global `enhance:` section."""

    chunk_seconds: Number = Field(default=30.0, gt=0, description="long files are enhanced in chunks")
    overlap_seconds: Number = Field(default=1.0, ge=0, description="cross-faded between chunks")
    channels: Literal["per_channel", "downmix"] | None = Field(
        default=None, description="how a mono model hears multi-channel audio; per_channel when not given"
    )

    @field_validator("overlap_seconds")
    @classmethod
    def _leaves_a_hop(cls, overlap: float, info: ValidationInfo) -> float:
        chunk = info.data.get("chunk_seconds")
        if chunk is not None and overlap >= chunk:
            raise ValueError(
                f"{overlap} s must be shorter than chunk_seconds ({chunk} s); lower the overlap or raise the chunk."
            )
        return overlap

    @property
    def channel_mode(self) -> str:
        return self.channels or "per_channel"


class EnhanceOptions(EnhanceDefaults):
    """An experiment's `enhance:` section, merged over the global one."""

    pcs: Flag = Field(default=False, description="PCS400 post-processing of the estimate (SEMamba's; 16 kHz)")
