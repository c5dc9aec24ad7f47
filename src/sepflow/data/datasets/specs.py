"""What an experiment trains on, as its `data:` section says: a train and a valid split of one
dataset, or pools of speech, noise and room impulse responses mixed on the fly."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from sepflow.specs import Count, Flag, Number, Spec, SplitRef

POOLS_HINT = "name a pool as dataset/split (or a list of them)"


def _pools(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class MixingData(Spec):
    """On-the-fly mixing (sepflow.data.datasets.mixing): pools, and the mixer's options; an
    option left out keeps RandomMixtureSampler's default."""

    speech: tuple[SplitRef, ...] = Field(min_length=1, description=POOLS_HINT)
    noise: tuple[SplitRef, ...] = Field(min_length=1, description=POOLS_HINT)
    rirs: tuple[SplitRef, ...] = ()
    p_speech_rir: Number | None = Field(default=None, ge=0, le=1)
    p_noise_rir: Number | None = Field(default=None, ge=0, le=1)
    dereverb: Flag | None = None
    target_db: Number | None = None
    snr_range: tuple[Number, Number] | None = None
    gain_range: tuple[Number, Number] | None = None
    rir_seconds: Number | None = Field(default=None, gt=0)
    min_rms_db: Number | None = None
    valid_size: Count = Field(default=200, gt=0)

    _as_lists = field_validator("speech", "noise", "rirs", mode="before")(classmethod(lambda cls, v: _pools(v)))

    @field_validator("p_speech_rir", "p_noise_rir")
    @classmethod
    def _needs_rooms(cls, p: float | None, info: ValidationInfo) -> float | None:
        if p and not info.data.get("rirs"):
            raise ValueError("asks for reverberation but no RIR pool is given; add rirs: dataset/split")
        return p

    @field_validator("snr_range", "gain_range")
    @classmethod
    def _range(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and value[0] > value[1]:
            raise ValueError(f"{list(value)} is not a range; give [low, high] in dB with low <= high")
        return value

    def pools(self) -> list[tuple[str, SplitRef]]:
        """(role, pool) of every pool, speech first."""
        return [(role, pool) for role in ("speech", "noise", "rirs") for pool in getattr(self, role)]

    def mixer_options(self) -> dict[str, Any]:
        """RandomMixtureSampler's keyword arguments the config sets; without rooms, no reverberation."""
        options = self.model_dump(exclude={"speech", "noise", "rirs", "valid_size"}, exclude_none=True)
        options = {key: tuple(v) if isinstance(v, list) else v for key, v in options.items()}
        if not self.rirs:
            options.setdefault("p_speech_rir", 0.0)
            options.setdefault("p_noise_rir", 0.0)
        return options


class TrainingDataSpec(Spec):
    """`data: {dataset, train, valid}` or `data: {mixing: {...}}`."""

    dataset: str | None = None
    train: str | None = None
    valid: str | None = None
    mixing: MixingData | None = None

    @model_validator(mode="after")
    def _one_form(self):
        paired = (self.dataset, self.train, self.valid)
        if self.mixing is None and None in paired:
            raise ValueError("give dataset, train and valid (a paired or stems split each), or mixing: {speech, noise}")
        if self.mixing is not None and any(v is not None for v in paired):
            raise ValueError("give either dataset/train/valid or mixing, not both")
        return self

    def splits(self) -> list[SplitRef]:
        """The manifests training reads: its train and valid splits, or the pools it mixes from."""
        if self.mixing is not None:
            return [pool for _, pool in self.mixing.pools()]
        return [SplitRef(dataset=self.dataset, split=self.train), SplitRef(dataset=self.dataset, split=self.valid)]

    @property
    def learns_from(self) -> str:
        """The dataset a model learns from (for mixing: its speech pool's dataset)."""
        return self.mixing.speech[0].dataset if self.mixing is not None else self.dataset
