# sepflow: raw audio to results tables. See README.md; the layout is in DESIGN.md.
from snakemake.utils import min_version

min_version("8.0")


configfile: "config.yaml"


conda: "envs/sepflow.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/manifests.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/tune.smk"
include: "workflow/rules/released.smk"
include: "workflow/rules/enhance.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        LAYOUT.report_files(),
    default_target: True
