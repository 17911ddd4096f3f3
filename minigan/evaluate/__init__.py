"""How good is a generator? Scores from a judge network that minigan trains itself.

    from minigan import evaluate
    report = evaluate.compare(images, dataset="mnist")      # generated rows and real rows
    print(evaluate.format_table(report))
    evaluate.probe_discriminator(D, "mnist")                # DCGAN's linear probe on D's features

``metrics`` holds the formulas on plain arrays; ``scorecard`` runs the judge and builds the rows;
``samples`` checks and loads sample files and checkpoints; ``probe`` is the representation-learning
check; ``report`` is ``minigan eval`` as one call (``eval_report``, ``format_report``, ``write_json``);
``class_check`` is the training loop's epoch-end hook that asks the judge for mode collapse (``ClassCheck``).
"""

from minigan.evaluate.class_check import ClassCheck
from minigan.evaluate.metrics import frechet_distance, gaussian_fit, inception_score, modified_inception_score
from minigan.evaluate.probe import discriminator_features, probe_discriminator
from minigan.evaluate.report import eval_report, format_report, write_json
from minigan.evaluate.samples import check_images, images_for, load_samples, samples_from_checkpoint
from minigan.evaluate.scorecard import EvalContext, compare, evaluate, format_table, reference_row

__all__ = ["ClassCheck", "EvalContext", "check_images", "compare", "discriminator_features", "eval_report",
           "evaluate", "format_report", "format_table", "frechet_distance", "gaussian_fit", "images_for",
           "inception_score", "load_samples", "modified_inception_score", "probe_discriminator", "reference_row",
           "samples_from_checkpoint", "write_json"]
