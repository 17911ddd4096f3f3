"""The epoch-end class check: an epoch-end hook of the training loop that classifies samples with the
dataset's judge, so that the run's warnings can name mode collapse (few classes, one class dominating).

    from minigan import gan
    from minigan.evaluate.class_check import ClassCheck

    gan.train(config, on_epoch_end=[ClassCheck()])    # what `minigan train` runs

The judge is only ever read from the cache (``minigan judge DATASET`` trains it): a run without one
trains as before, unchecked.
"""

import numpy as np

from minigan import judge
from minigan.errors import MiniganError
from minigan.gan import diagnostics


class ClassCheck:
    """``hook(trainer, run, epoch)`` -> {"classes_covered": [k], "top_class_share": [s]}, or {} when
    there is nothing to check (no cached judge for the run's images, or too early).

    The n samples are drawn with a Generator of their own, seeded by the epoch, so the run's own
    random streams stay untouched (a checked run trains exactly like an unchecked one).

    Args:
        n (int): samples classified each time.
        first_epoch (int): the first epoch checked; first-epoch samples are still blobs.
    """

    image_shape = (1, 28, 28)  # what the judges see

    def __init__(self, n=1000, first_epoch=2):
        self.n, self.first_epoch = n, first_epoch
        self.judges = {}  # dataset -> Judge, loaded once

    def __call__(self, trainer, run, epoch):
        if trainer.image_shape != self.image_shape or epoch < self.first_epoch:
            return {}
        classifier = self.judge_for(trainer.config.dataset)
        if classifier is None:
            return {}
        images = trainer.sample(self.n, rng=np.random.default_rng(epoch))
        return {name: [value] for name, value in diagnostics.class_summary(classifier, images).items()}

    def judge_for(self, dataset):
        """The cached judge of ``dataset``, or None while there is none (asked again next time)."""
        if dataset not in self.judges:
            try:
                self.judges[dataset] = judge.load_judge(dataset, train_if_missing=False)
            except MiniganError:
                return None
        return self.judges[dataset]
