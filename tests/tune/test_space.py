"""Search-space schema: validation names the field and never starts Ray; mode-aware sampling."""

from __future__ import annotations

import pickle

import pytest
from ray import tune

from remul.tune.space import OptunaSpace, describe_space, validate_sweep

TINY = {"model": {"name": "mlp", "layers": 2}, "epochs": 2}


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"space": {"bta": 1.0}}, "space.bta"),
        ({"space": {"model": {"name": "mlp", "hiden": tune.choice([8, 16])}}}, "space.model.hiden"),
        ({"space": {"data.n_trian": 10}}, "space.data.n_trian"),
        ({"space": {"beta": -1.0}}, "beta"),
        ({"space": {"beta": tune.uniform(-1.0, 1.0)}}, "space.beta"),
        ({"space": {"beta": tune.uniform(2.0, 1.0)}}, "space.beta: bad range"),
        ({"space": {"lr": tune.uniform(0.0, 1.0)}}, "space.lr"),
        ({"space": {"epochs": tune.randint(3, 3)}}, "space.epochs: bad range"),
        ({"space": {"beta": tune.choice([])}}, "space.beta"),
        ({"space": {"beta": tune.randn(0, 1)}}, "space.beta"),
        ({"space": {"mode": tune.choice(["constant", "sgd"])}}, "space.mode"),
        ({"space": {"beta": tune.grid_search([0.1, 1.0])}}, "space.beta: tune.grid_search"),
        ({"space": {"beta": tune.loguniform(0.1, 1.0)}, "search": "grid"}, "space.beta"),
        ({"space": {}, "scheduler": "asha"}, "scheduler"),
        ({"space": {}, "scheduler": "hyperband"}, "scheduler"),
        ({"space": {}, "search": "bayes"}, "search"),
        ({"space": {}, "objectives": ["test_mse"]}, "objectives"),
        ({"space": {"gamma": tune.uniform(0.0, 2.0)}}, "space.gamma"),
        ({"space": {"mode": "augmentation", "beta": tune.loguniform(0.1, 1.0)}}, "space.beta"),
        ({"space": {"checkpoint_dir": "/tmp/x"}}, "space.checkpoint_dir"),
        ({"space": {"n_group_samples": tune.uniform(1, 4)}}, "space.n_group_samples"),
        ({"space": {}, "resources_per_trial": {"cpu": 0}}, "resources_per_trial.cpu"),
        ({"space": {}, "resources_per_trial": {"gpu": -0.5}}, "resources_per_trial.gpu"),
        ({"space": {}, "resources_per_trial": {"tpu": 1}}, "resources_per_trial"),
        ({"space": {}, "num_samples": 0}, "num_samples"),
        ({"space": {}, "max_concurrent_trials": 0}, "max_concurrent_trials"),
    ],
)
def test_bad_spaces_are_rejected_with_the_field_named(kwargs, field):
    with pytest.raises(ValueError) as err:
        validate_sweep("nbody", **kwargs)
    assert field in str(err.value)


def test_tune_remul_rejects_before_ray_or_mlflow_start(tmp_path, monkeypatch):
    import ray

    from remul.tune import tune_remul

    monkeypatch.chdir(tmp_path)
    before = ray.is_initialized()
    with pytest.raises(ValueError, match="space.beta"):
        tune_remul("nbody", {"beta": tune.uniform(-1.0, 1.0)}, storage_path=str(tmp_path))
    with pytest.raises(ValueError, match="scheduler"):
        tune_remul("nbody", {}, scheduler="asha")
    assert ray.is_initialized() == before  # Ray was not started
    assert not (tmp_path / "mlruns.db").exists()
    assert list(tmp_path.iterdir()) == []


def test_unknown_task_is_rejected():
    with pytest.raises(ValueError, match="task"):
        validate_sweep("no_such_task", {})


def test_grid_skips_inactive_keys_per_mode():
    spec = validate_sweep(
        "nbody",
        {**TINY, "mode": tune.grid_search(["constant", "gradnorm", "augmentation", "none"]),
         "beta": tune.grid_search([0.1, 1.0]), "gamma": tune.grid_search([1.0, 2.0])},
        search="grid",
    )
    configs = spec.trial_configs()
    # constant: 2 betas; gradnorm: 2 betas x 2 gammas; augmentation, none: one each
    assert len(configs) == 2 + 4 + 1 + 1
    for c in configs:
        if c["mode"] != "gradnorm":
            assert "gamma" not in c
        if c["mode"] in ("augmentation", "none"):
            assert "beta" not in c


def test_grid_repeats_use_new_seeds():
    spec = validate_sweep("nbody", {**TINY, "beta": tune.grid_search([0.1, 1.0])},
                          search="grid", num_samples=2)
    assert [c["seed"] for c in spec.trial_configs()] == [0, 0, 1, 1]


def test_random_is_seeded_and_conditional():
    space = {**TINY, "mode": tune.choice(["constant", "gradnorm"]),
             "beta": tune.loguniform(1e-2, 1e2), "gamma": tune.uniform(0.0, 3.0),
             "model.hidden": tune.choice([8, 16])}
    a = validate_sweep("nbody", space, search="random", num_samples=6, seed=3).trial_configs()
    b = validate_sweep("nbody", space, search="random", num_samples=6, seed=3).trial_configs()
    assert a == b and len(a) == 6
    for c in a:
        assert 1e-2 <= c["beta"] <= 1e2
        assert ("gamma" in c) == (c["mode"] == "gradnorm")
        assert c["model"]["hidden"] in (8, 16)


def test_optuna_space_is_conditional_and_picklable():
    import optuna

    spec = validate_sweep("nbody", {**TINY, "mode": tune.choice(["constant", "gradnorm"]),
                                    "beta": tune.loguniform(1e-2, 1e2),
                                    "eta": tune.loguniform(1e-3, 1e-1),
                                    "model.hidden": tune.randint(8, 17)})
    fn = pickle.loads(pickle.dumps(OptunaSpace(spec.searched, "constant")))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(12):
        t = study.ask()
        fn(t)
        seen.add(t.params["mode"])
        assert ("eta" in t.params) == (t.params["mode"] == "gradnorm")
        assert 8 <= t.params["model/hidden"] <= 16
        study.tell(t, 0.0)
    assert seen == {"constant", "gradnorm"}


def test_plain_values_and_nested_forms_are_fixed():
    spec = validate_sweep("nbody", {"model.name": "mlp", "model": {"hidden": 8},
                                    "beta": 0.5, "data": {"n_train": 32}})
    assert spec.fixed == {"model": {"name": "mlp", "hidden": 8}, "beta": 0.5,
                          "data": {"n_train": 32}}
    assert spec.searched == {}
    assert "0.5" in describe_space({"beta": 0.5, "lr": tune.loguniform(1e-4, 1e-2)})
