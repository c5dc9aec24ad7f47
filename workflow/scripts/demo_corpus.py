"""Snakemake adapter: synthesize the embedded demo corpus."""

import json
from pathlib import Path

from sepflow.data.demo.corpus import synthesize_demo
from sepflow.stage import stage

with stage(snakemake):
    cfg = json.loads(snakemake.params.dataset)
    synthesize_demo(
        Path(snakemake.output[0]),
        sizes=cfg["sizes"],
        sample_rate=cfg["sample_rate"],
        seed=snakemake.params.seed,
        snr_range=tuple(cfg["snr_range"]),
        reverb_fraction=cfg["reverb_fraction"],
        utterance_seconds=tuple(cfg["utterance_seconds"]),
        pool_sizes=cfg["pool_sizes"],
        workers=snakemake.threads,
    )
