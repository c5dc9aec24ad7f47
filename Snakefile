# sepflow: raw audio to results tables. See README.md; the layout is in DESIGN.md.
from snakemake.utils import min_version

from sepflow.config import validate_schema
from sepflow.errors import SepflowError

min_version("8.0")


configfile: "config.yaml"


# The schema's first error alone, as "config: path: message" (snakemake.utils.validate would
# print the whole schema and config); sepflow.config.check_config (common.smk) does the rest.
try:
    validate_schema(config, f"{workflow.basedir}/workflow/schemas/config.schema.yaml")
except SepflowError as exc:
    raise WorkflowError(f"config: {exc}") from None


conda: "envs/sepflow.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/manifests.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/pretrained.smk"
include: "workflow/rules/enhance.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        REPORT_FILES,
    default_target: True
