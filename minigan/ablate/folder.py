"""The ablation folder: ablation.json, each variant's ablate.json, and what resuming may delete.

    OUT/ablation.json           the plan and every figure (rewritten after each variant)
    OUT/ablation.md             the table in Markdown, with the command line and the settings
    OUT/<variant>/              a `minigan train` run folder, plus ablate.json: its time and scores
"""

import json
import os
import shutil

from minigan import files
from minigan.errors import MiniganError
from minigan.gan import training

KIND = "minigan ablation"
RESULT = "ablate.json"  # in each variant's folder
RUN_ENTRIES = {"config.json", "metrics.jsonl", "loss.png", "samples", "checkpoints", RESULT}


def read_json(path):
    """The JSON in ``path``, or None when the file is missing or unreadable."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_json(path, value):
    """Write ``value`` as JSON, atomically (numpy numbers as plain numbers)."""
    text = json.dumps(value, indent=2, default=lambda v: v.item() if hasattr(v, "item") else float(v)) + "\n"
    write_text(path, text)


def write_text(path, text):
    with files.atomic_open(path, "ablation results", "choose a writable --out.") as f:
        f.write(text.encode())


def open_out(out, header):
    """Make the ablation folder, or check that an existing one holds this ablation.

    Raises:
        MiniganError: ``out`` is a file, holds something else, or an ablation with other settings.
    """
    if os.path.exists(out) and not os.path.isdir(out):
        raise MiniganError(f"{out} is a file, not a folder; choose another --out.")
    previous = read_json(os.path.join(out, "ablation.json"))
    if previous is None:
        if os.path.isdir(out) and os.listdir(out):
            raise MiniganError(f"{out} holds files but no ablation.json, so it is not an ablation folder; "
                               "choose another --out.")
    elif previous.get("kind") != KIND:
        raise MiniganError(f"{out}/ablation.json is not a minigan ablation; choose another --out.")
    else:
        old = {**previous["base"], "eval_samples": previous["eval_samples"]}
        new = {**header["base"], "eval_samples": header["eval_samples"]}
        for key, value in new.items():
            if old.get(key) != value:
                name = "--eval-samples" if key == "eval_samples" else training.option_name(key)
                raise MiniganError(f"{out} holds an ablation with other settings ({name} {old.get(key)} there, "
                                   f"{value} here); repeat its settings to continue it, or choose another --out.")
    os.makedirs(out, exist_ok=True)


def clear_unfinished(folder):
    """Delete a variant folder left by an unfinished training, so the variant starts afresh.

    Raises:
        MiniganError: the folder holds files a training run does not write.
    """
    if not os.path.isdir(folder):
        return
    strange = [e for e in os.listdir(folder) if e not in RUN_ENTRIES and not e.startswith(".")]
    if strange:
        raise MiniganError(f"{folder} holds {strange[0]}, which no training run writes; move it away or "
                           "choose another --out.")
    shutil.rmtree(folder)
