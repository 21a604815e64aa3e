import pytest
import torch
from helpers import random_rotation
from torch_geometric.nn import MessagePassing

from remul.actions import rotate_vectors
from remul.models import build_model, model_defaults
from remul.models.gnn import batch_graph, complete_graph
from remul.tasks.base import TaskSpec
from remul.testing import assert_equivariant, equivariance_report

CHAIN = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4, 0, 2], [1, 0, 2, 1, 3, 2, 4, 3, 2, 0]])
CHAIN_ATTR = torch.tensor([[1.0]] * 8 + [[2.0]] * 2)


def _spec(edges: bool = True, F: int = 2) -> TaskSpec:
    if edges:
        return TaskSpec(n_nodes=5, node_feature_dim=F, edge_index=CHAIN, edge_attr=CHAIN_ATTR)
    return TaskSpec(n_nodes=5, node_feature_dim=F)


def _batch(B=4, N=5, F=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"x": 2 * torch.randn(B, N, 3, generator=g), "v": torch.randn(B, N, 3, generator=g),
            "h": torch.rand(B, N, F, generator=g), "y": torch.randn(B, N, 3, generator=g)}


def _randomise(model, std=0.1):
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(std * torch.randn(p.shape, generator=g))
    return model


def test_defaults_and_torch_geometric_layers():
    assert model_defaults("gnn") == {"layers": 4, "hidden": 64}
    assert model_defaults("egnn") == {"layers": 4, "hidden": 64}
    for name in ("gnn", "egnn"):
        m = build_model({"name": name}, _spec())
        assert sum(isinstance(x, MessagePassing) for x in m.modules()) == 4
        assert isinstance(m.head, torch.nn.Linear)
        assert m(_batch()).shape == (4, 5, 3)


@pytest.mark.parametrize("edges", [True, False])
def test_egnn_is_equivariant_in_float64(edges):
    model = _randomise(build_model({"name": "egnn", "layers": 3, "hidden": 16}, _spec(edges)))
    rep = assert_equivariant(model, _batch(), dtype=torch.float64)
    assert rep["E_prime"] < 1e-9 and rep["translation"] < 1e-9


def test_egnn_commutes_with_an_independent_rotation():
    model = _randomise(build_model({"name": "egnn", "layers": 2, "hidden": 16}, _spec()))
    model = model.double()
    b = {k: t.double() for k, t in _batch().items()}
    g = random_rotation(4, seed=3)
    rb = dict(b, x=rotate_vectors(g, b["x"]), v=rotate_vectors(g, b["v"]))
    with torch.no_grad():
        out, rout = model(b), model(rb)
    assert (rout - rotate_vectors(g, out)).abs().max() < 1e-10
    assert (out - b["x"]).abs().max() > 1e-3  # it does move the points


def test_gnn_is_not_rotation_equivariant_but_is_translation_equivariant():
    model = _randomise(build_model({"name": "gnn", "layers": 2, "hidden": 16}, _spec()))
    rep = equivariance_report(model, _batch())
    assert rep["translation"] < 1e-9
    assert rep["E_prime"] > 1e-3
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(model, _batch())


@pytest.mark.parametrize("name", ["gnn", "egnn"])
def test_samples_in_a_batch_do_not_interact(name):
    model = _randomise(build_model({"name": name, "layers": 2, "hidden": 16}, _spec()))
    b = _batch(B=3)
    with torch.no_grad():
        full = model(b)
        one = model({k: t[1:2] for k, t in b.items()})
    torch.testing.assert_close(full[1:2], one, atol=1e-5, rtol=1e-5)


def test_batched_edge_index_offsets_and_complete_graph():
    ei, ea = batch_graph(CHAIN, CHAIN_ATTR, 3, 5)
    assert ei.shape == (2, 30) and ea.shape == (30, 1)
    assert int(ei[:, 10:20].min()) == 5 and int(ei.max()) == 14
    cg = complete_graph(4)
    assert cg.shape == (2, 12) and not bool((cg[0] == cg[1]).any())


def test_edges_out_of_range_are_rejected():
    bad = TaskSpec(n_nodes=3, node_feature_dim=1, edge_index=torch.tensor([[0], [3]]))
    with pytest.raises(ValueError, match="edge_index"):
        build_model({"name": "gnn"}, bad)


def test_gnn_starts_at_no_motion_and_egnn_near_it():
    b = _batch()
    gnn = build_model({"name": "gnn"}, _spec())
    assert torch.equal(gnn(b), b["x"])
    egnn = build_model({"name": "egnn"}, _spec())
    assert torch.isfinite(egnn(b)).all()
