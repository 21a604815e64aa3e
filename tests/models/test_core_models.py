import pytest
import torch

from remul.models import build_model, model_names
from remul.tasks.base import TaskSpec
from remul.testing import assert_equivariant, equivariance_report


def _batch(B=4, N=4, F=1):
    g = torch.Generator().manual_seed(0)
    return {"x": torch.randn(B, N, 3, generator=g), "v": torch.randn(B, N, 3, generator=g),
            "h": torch.rand(B, N, F, generator=g), "mass": torch.rand(B, N, generator=g) + 0.1}


@pytest.mark.parametrize("cfg", [
    {"name": "transformer", "hidden": 32, "blocks": 2, "heads": 4},
    {"name": "mlp", "hidden": 32, "layers": 2},
])
def test_plain_models_are_translation_but_not_rotation_equivariant(cfg):
    model = build_model(cfg, TaskSpec(n_nodes=4, node_feature_dim=1))
    torch.nn.init.normal_(model.head.weight, std=0.5)
    batch = _batch()
    assert model(batch).shape == (4, 4, 3)
    rep = equivariance_report(model, batch)
    assert rep["translation"] < 1e-9
    assert rep["E_prime"] > 1e-3
    with pytest.raises(AssertionError):
        assert_equivariant(model, batch)


def test_zero_initialised_head_predicts_no_motion():
    model = build_model({"name": "transformer", "hidden": 16, "blocks": 1, "heads": 2},
                        TaskSpec(4, 1))
    b = _batch()
    assert torch.equal(model(b), b["x"])
    assert {"mlp", "transformer"} <= set(model_names())


def test_transformer_heads_must_divide_hidden():
    with pytest.raises(ValueError, match="hidden"):
        build_model({"name": "transformer", "hidden": 30, "heads": 4}, TaskSpec(4, 1))
