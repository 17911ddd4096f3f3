"""Training diagnostics: gradient-norm bookkeeping and the warnings printed at an epoch's end."""

import numpy as np

from minigan.gan import diagnostics


def test_d_collapse_and_exploding_gradients_are_named():
    history = {"loss_D": [0.5] * 20 + [1e-4] * 20, "D_x": [0.999] * 40, "D_G_z": [1e-4] * 40,
               "grad_norm_G": [1.0] * 39 + [1e5]}
    text = " ".join(diagnostics.diagnose(history))
    assert "D's loss has collapsed" in text and "grad_norm_G is 1e+05" in text
    assert diagnostics.diagnose({"loss_D": [0.7] * 40, "grad_norm_G": [1.0] * 40}) == []
