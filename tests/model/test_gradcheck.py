"""Every hand-written gradient against central finite differences (float64)."""

import numpy as np
import pytest

from model.gradcheck import TOLERANCE, VARIANTS, check_model, randomize, run_gradcheck, variant_config
from model.model import TissLM
from model.norm import RMSNorm


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_parameter_matches_finite_differences(variant):
    results = run_gradcheck([variant])
    model = TissLM(variant_config(VARIANTS[variant]))
    assert {r.param for r in results} == set(model.params)  # every parameter checked
    failed = [(r.param, r.max_rel_error) for r in results if not r.passed]
    assert not failed, f"gradients off by more than {TOLERANCE}: {failed}"


def test_gradcheck_catches_a_wrong_backward(monkeypatch):
    # RMSNorm backward without the projection term: plausible, and wrong.
    def sloppy_backward(self, dy):
        xhat, r = self.saved
        np.einsum("nc,nc->c", dy, xhat, out=self.store.grads[self.weight])
        return dy * self.store.params[self.weight] * r

    monkeypatch.setattr(RMSNorm, "backward", sloppy_backward)
    model = TissLM(variant_config({}), seed=0)
    randomize(model, 0)
    results = check_model(model, "broken")
    assert any(not r.passed for r in results)
    assert max(r.max_rel_error for r in results) > 1e-3


def test_unknown_variant_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown gradcheck variant"):
        run_gradcheck(["swishnorm"])
