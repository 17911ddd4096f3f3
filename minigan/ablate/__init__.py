"""`minigan ablate`: train a base configuration and its variants, each with one technique toggled, and
compare them on the same budget.

Every variant trains with the base's seed, data and budget in a run folder of its own, then its last
checkpoint is scored by the dataset's judge (what `minigan eval` runs):

    OUT/ablation.json           the plan and every figure (rewritten after each variant)
    OUT/ablation.md             the table in Markdown, with the command line and the settings
    OUT/base/                   a `minigan train` run folder, plus ablate.json: its time and scores
    OUT/with-feature-matching/  the variant "+feature-matching" (the base lacks it, so it is added)
    OUT/without-vbn/            the variant "-vbn" (the base has it: its fields back to the defaults)

``variants`` holds the techniques and builds the plan (the base and its variants), ``folder`` reads
and writes the ablation folder, ``run`` trains and scores each variant (``ablate``: the whole
command as one call), ``table`` formats the results.

Resuming: a variant whose ablate.json says "done" (with the same settings) is not trained again. One
that says "trained" is only scored. Anything else in a variant's folder is an unfinished training: it
is deleted and the variant trains again from the start, so each time in the table is one
uninterrupted run (a resumed run would time only its second half). Refused and failed variants are
tried again on every run.
"""

from minigan.ablate.folder import KIND, RESULT
from minigan.ablate.run import ablate, command_line, default_out, run_variant, score_run, train_checked
from minigan.ablate.table import format_markdown, format_table
from minigan.ablate.variants import (TECHNIQUES, Variant, base_config, is_on, plan, refusal, settings_text,
                                     techniques_help)

__all__ = ["KIND", "RESULT", "TECHNIQUES", "Variant", "ablate", "base_config", "command_line", "default_out",
           "format_markdown", "format_table", "is_on", "plan", "refusal", "run_variant", "score_run",
           "settings_text", "techniques_help", "train_checked"]
