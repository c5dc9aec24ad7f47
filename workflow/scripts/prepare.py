"""Snakemake adapter: prepare one dataset into data/audio/{dataset} with its recipe."""

from sepflow.data.prepare import prepare_dataset
from sepflow.data.recipes import recipe_from_json
from sepflow.records import write_folder_record
from sepflow.stage import stage

with stage(snakemake):
    recipe = recipe_from_json(snakemake.params.dataset)
    prepare_dataset(
        recipe,
        snakemake.output.audio,
        snakemake.params.raw_dir,
        seed=snakemake.params.seed,
        workers=snakemake.threads,
    )
    write_folder_record(snakemake.output.audio, snakemake.output.record, sources=recipe.inputs())
