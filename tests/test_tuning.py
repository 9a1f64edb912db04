"""Hyperparameter search: the Python API, the CLI, pruning, and several workers on one study."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import uuid

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

import tsformer
from tsformer import registry
from tsformer.cli import main
from tsformer.datasets import make_synthetic
from tsformer.errors import ConfigError, DataError, TuningError
from tsformer.tuning import Tuner, open_storage, tune
from tsformer.tuning.search import FixedParamsTrial, TrialSeededSampler, make_pruner, space_function
from tsformer.tuning.storage import HEARTBEAT_ATTR, describe_storage, fail_stale_trials

optuna.logging.set_verbosity(optuna.logging.WARNING)

H = 12
#: training settings that make a trial take a second or two
TRAIN = dict(max_epochs=1, batch_size=64, accelerator="cpu", val_size=24)
POSTGRES_ENV = "TSFORMER_TEST_POSTGRES_URL"


def tiny(name: str, **overrides) -> dict:
    return {**TRAIN, **registry.get_estimator(name).test_params(), **overrides}


@pytest.fixture(scope="module")
def frame():
    return make_synthetic(n_steps=400, n_series=2, freq="h", seed=0)


# ------------------------------------------------------------------------------------------ search spaces


@pytest.mark.parametrize("name", registry.available())
def test_every_search_space_yields_valid_params(name):
    """Sampled by the real sampler over many trials (Optuna rejects choices that change between trials)."""
    cls = registry.get_estimator(name)
    study = optuna.create_study(sampler=TrialSeededSampler(0))
    x, x_mark, y_mark = torch.randn(2, 96, 3), torch.randn(2, 96, 4), torch.randn(2, 24, 4)
    seen = set()
    for k in range(16):  # past TPE's 10 random start-up trials
        trial = study.ask()
        params = cls.search_space(FixedParamsTrial(trial, {}))
        assert params and set(params) <= set(cls().get_params()), params
        est = cls(**params, lookback=96, horizon=24)
        assert {p: v for p, v in est.get_params().items() if p in params} == params
        est._check_params()
        if k % 4 == 0:  # building a network checks divisibility and the like
            net = est._build_network(n_vars=3, n_marks=4).eval()
            with torch.no_grad():
                assert net(x, x_mark, y_mark).shape == (2, 24, 3)
        seen.add(json.dumps(params, sort_keys=True))
        study.tell(trial, float(k % 5))
    assert len(seen) > 8  # the space is really searched


def test_dict_search_space_and_fixed_params():
    space = space_function(None, {"d_model": CategoricalDistribution([8, 16]), "e_layers": IntDistribution(1, 3),
                                  "learning_rate": FloatDistribution(1e-4, 1e-2, log=True), "n_heads": [1, 2]})
    trial = optuna.create_study().ask()
    params = space(FixedParamsTrial(trial, {"n_heads": 4}))
    assert params["n_heads"] == 4 and "n_heads" not in trial.params
    assert params["d_model"] in (8, 16) and 1 <= params["e_layers"] <= 3 and 1e-4 <= params["learning_rate"] <= 1e-2
    # a value derived from a fixed one uses the fixed value
    cls = registry.get_estimator("itransformer")
    params = cls.search_space(FixedParamsTrial(optuna.create_study().ask(), {"d_model": 32}))
    assert params["d_model"] == 32 and params["d_ff"] % 32 == 0
    with pytest.raises(ConfigError, match="search_space"):
        space_function(None, 3)
    with pytest.raises(ConfigError, match="optuna distribution"):
        space_function(None, {"d_model": 8})


def test_sampler_seeds_each_trial_by_its_number():
    """Same seed and trial number -> same draw; workers (other numbers) or a resumed study -> new draws."""
    cls = registry.get_estimator("itransformer")

    def draws(study, n):
        out = []
        for _ in range(n):
            t = study.ask()
            out.append(cls.search_space(t))
            study.tell(t, 1.0)
        return out

    a = draws(optuna.create_study(sampler=TrialSeededSampler(7)), 3)
    b = draws(optuna.create_study(sampler=TrialSeededSampler(7)), 3)
    assert a == b
    shifted = optuna.create_study(sampler=TrialSeededSampler(7))
    shifted.tell(shifted.ask(), 1.0)  # one trial already there, as when a study is resumed
    assert draws(shifted, 3) != a
    assert TrialSeededSampler(7).seed_of(1) != TrialSeededSampler(7).seed_of(2)


def test_pruner_names():
    assert isinstance(make_pruner("median"), optuna.pruners.MedianPruner)
    assert isinstance(make_pruner("halving"), optuna.pruners.SuccessiveHalvingPruner)
    assert isinstance(make_pruner("hyperband"), optuna.pruners.HyperbandPruner)
    assert isinstance(make_pruner("none"), optuna.pruners.NopPruner)
    with pytest.raises(ConfigError, match="pruner='bogus'"):
        make_pruner("bogus")


# ------------------------------------------------------------------------------------------ the API


@pytest.mark.parametrize("name", registry.available())
def test_small_study_finds_params_and_a_refitted_estimator_that_predicts(name, frame):
    result = tune(name, frame, horizon=H, n_trials=2, n_windows=2, params=tiny(name), seed=0)
    assert result.study.best_value == result.best_score and math.isfinite(result.best_score)
    assert result.best_trial == result.study.best_trial.number
    assert "lookback" in result.best_params and result.best_params["lookback"] % H == 0
    est = result.best_estimator
    assert isinstance(est, registry.get_estimator(name))
    assert {k: v for k, v in est.get_params().items() if k in result.best_params} == result.best_params
    assert est.random_state == result.best_trial  # seed 0 + trial number
    fc = est.predict()
    assert fc.shape == (H, 2) and fc.index[0] > frame.index[-1] and np.isfinite(fc.to_numpy()).all()
    table = result.trials
    assert list(table["state"]) == ["COMPLETE", "COMPLETE"] and set(result.best_params) <= set(table.columns)


def test_trials_never_see_the_validation_rows_and_the_score_is_reproducible(frame, monkeypatch):
    cls = registry.get_estimator("itransformer")
    fitted = []
    original_fit = cls._fit_data

    def spy(self, data, **kwargs):
        fitted.append(data.index.max())
        return original_fit(self, data, **kwargs)

    monkeypatch.setattr(cls, "_fit_data", spy)
    params = tiny("itransformer")
    first = tune("itransformer", frame, horizon=H, n_trials=2, n_windows=3, params=params, seed=3, metric="mae")
    cut = len(frame) - 3 * H
    assert fitted[:2] == [frame.index[cut - 1]] * 2  # each trial fits on the rows before the windows only
    assert fitted[2] == frame.index[-1]  # the refit sees everything
    # the score is the mean of the 3 tail windows, original scale, by a model seeded from its trial number
    best = first.best_params
    manual = cls(**params, **best, horizon=H, random_state=3 + first.best_trial).fit(frame.iloc[:cut])
    forecasts = pd.concat([manual.predict(frame.iloc[:cut + k * H]) for k in range(3)])
    assert np.mean(np.abs(forecasts.to_numpy() - frame.iloc[cut:].to_numpy())) == pytest.approx(first.best_score,
                                                                                               rel=1e-5)
    again = tune("itransformer", frame, horizon=H, n_trials=2, n_windows=3, params=params, seed=3, metric="mae",
                 refit=False)
    assert again.best_estimator is None
    pd.testing.assert_frame_equal(again.trials.drop(columns=["seconds", "worker"]),
                                  first.trials.drop(columns=["seconds", "worker"]))


def test_long_frames_of_unequal_series_with_a_global_model(frame):
    long = frame.reset_index().melt(id_vars="date", var_name="unique_id", value_name="y").rename(columns={"date": "ds"})
    long = long[(long["unique_id"] == "series_0") | (long["ds"] >= frame.index[60])]  # series_1 starts later
    result = tune("itransformer", long, horizon=H, n_trials=1, n_windows=1, pruner="none",
                  params=tiny("itransformer", lookback=24, series_mode="global"))
    fc = result.best_estimator.predict()
    assert list(fc.columns) == ["unique_id", "ds", "y"] and len(fc) == 2 * H
    assert "lookback" not in result.best_params  # fixed, so not tuned


def bad_from_the_first_epoch(trial):
    """Trials 0, 1, 3 learn (lr 1e-2); trials 2 and 4 cannot (lr 1e-7): their first epoch is already bad."""
    return {"learning_rate": 1e-7 if trial.number in (2, 4) else 1e-2}


@pytest.mark.parametrize("pruner", [
    optuna.pruners.MedianPruner(n_startup_trials=2),
    optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2),
], ids=["median", "halving"])
def test_unpromising_trials_are_pruned(frame, pruner):
    params = tiny("itransformer", max_epochs=2, patience=None, batch_size=32, lookback=24, lr_schedule="constant")
    result = tune("itransformer", frame, horizon=H, n_trials=5, n_windows=1, params=params, pruner=pruner,
                  search_space=bad_from_the_first_epoch, refit=False)
    trials = {t.number: t for t in result.study.trials}
    assert len(trials) == 5 and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials.values())
    for bad in (2, 4):  # stopped after the first of their two epochs
        assert trials[bad].state == TrialState.PRUNED and list(trials[bad].intermediate_values) == [1]
    assert trials[0].state == TrialState.COMPLETE and list(trials[0].intermediate_values) == [1, 2]
    assert all(len(t.intermediate_values) == 2 for t in trials.values() if t.state == TrialState.COMPLETE)
    assert list(result.trials["state"])[2] == "PRUNED" and result.best_score == result.study.best_value


def test_bad_input_is_clear(frame):
    with pytest.raises(ConfigError, match="unknown model 'nosuch'"):
        tune("nosuch", frame, horizon=H, n_trials=1)
    with pytest.raises(ConfigError, match="unknown parameter"):
        tune("itransformer", frame, horizon=H, n_trials=1, params={"bogus": 1})
    with pytest.raises(ConfigError, match="horizon is set by tuning"):
        tune("itransformer", frame, horizon=H, n_trials=1, params={"horizon": 3})
    with pytest.raises(ConfigError, match="metric="):
        tune("itransformer", frame, horizon=H, n_trials=1, metric="r2")
    with pytest.raises(ConfigError, match="n_trials must be a positive integer"):
        tune("itransformer", frame, horizon=H, n_trials=0, params=tiny("itransformer"))
    with pytest.raises(DataError, match="too few rows to tune"):
        tune("itransformer", frame.iloc[:80], horizon=H, n_trials=1, n_windows=3, params=tiny("itransformer"))
    with pytest.raises(ConfigError, match="folder .* does not exist"):
        tune("itransformer", frame, horizon=H, n_trials=1, storage="/no/such/dir/s.journal")
    with pytest.raises(ConfigError, match="cannot open the storage"):
        tune("itransformer", frame, horizon=H, n_trials=1, storage="nosuchdb://x")


def test_a_study_that_cannot_complete_says_why(frame):
    with pytest.raises(TuningError, match="no trial .* completed .*the last failure: ConfigError: the search space "
                                          "returned unknown parameter"):
        tune("itransformer", frame, horizon=H, n_trials=2, params=tiny("itransformer"),
             search_space=lambda trial: {"bogus": trial.suggest_int("bogus", 1, 3)})


def test_joining_a_study_made_for_something_else_is_refused(frame, tmp_path):
    storage = str(tmp_path / "s.journal")
    Tuner("itransformer", frame, horizon=H, storage=storage, study_name="s", params=tiny("itransformer"))
    with pytest.raises(ConfigError, match="give another study name"):
        Tuner("itransformer", frame, horizon=6, storage=storage, study_name="s", params=tiny("itransformer"))


# ------------------------------------------------------------------------------------------ counting and heartbeats


def _add_done(study, n):
    for _ in range(n):
        study.add_trial(optuna.trial.create_trial(value=1.0, params={}, distributions={}, user_attrs={"params": {}}))


def test_a_worker_waits_while_running_trials_fill_the_study_and_drops_surplus_trials(frame, monkeypatch):
    tuner = Tuner("itransformer", frame, horizon=H, params=tiny("itransformer"), heartbeat=0.5)
    _add_done(tuner.study, 2)
    other = tuner.study.ask()  # another worker's running trial (it keeps beating)
    other.set_user_attr(HEARTBEAT_ATTR, time.time() + 60)
    assert tuner.run(3, timeout=1.5) == []  # 2 done + 1 running fill 3: nothing to start
    tuner.study.tell(other, state=TrialState.FAIL)  # the other worker's trial failed: its place is free
    ran = tuner.run(3)
    assert [t.state for t in ran] == [TrialState.COMPLETE] and tuner.n_done() == 3

    # two workers asked at the same moment: the later trial finds the study full and is dropped untrained
    real_wait, calls = Tuner._wait_for_place, []

    def first_says_go(self, n_trials, deadline):
        calls.append(1)
        return True if len(calls) == 1 else real_wait(self, n_trials, deadline)

    monkeypatch.setattr(Tuner, "_wait_for_place", first_says_go)
    assert tuner.run(3) == []
    last = tuner.study.trials[-1]
    assert last.state == TrialState.FAIL and last.user_attrs["error"].startswith("surplus")
    assert tuner.n_done() == 3


def test_stale_trials_are_failed():
    study = optuna.create_study()
    storage = study._storage
    dead, alive = study.ask(), study.ask()
    dead.set_user_attr(HEARTBEAT_ATTR, time.time() - 100)
    alive.set_user_attr(HEARTBEAT_ATTR, time.time())
    assert fail_stale_trials(study, storage, grace=10) == [dead.number]
    states = {t.number: t.state for t in study.trials}
    assert states == {dead.number: TrialState.FAIL, alive.number: TrialState.RUNNING}
    assert "no heartbeat" in study.trials[dead.number].user_attrs["error"]


def test_storage_kinds(tmp_path):
    assert isinstance(open_storage(None), optuna.storages.InMemoryStorage)
    assert isinstance(open_storage(tmp_path / "s.journal"), optuna.storages.JournalStorage)
    assert isinstance(open_storage(f"sqlite:///{tmp_path / 's.db'}"), optuna.storages.RDBStorage)
    assert describe_storage("postgresql://me:secret@db:5432/x") == "postgresql://me:***@db:5432/x"


# ------------------------------------------------------------------------------------------ the command line

FAST = ["--horizon", str(H), "--max-epochs", "1", "--val-size", "24", "--accelerator", "cpu", "--n-windows", "2",
        "--param", "d_model=16", "--param", "n_heads=2", "--param", "e_layers=1"]


def tsformer_cmd(*args):
    return [sys.executable, "-m", "tsformer", *map(str, args)]


def run(*args, timeout=300):
    return subprocess.run(tsformer_cmd(*args), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def csv(frame, tmp_path_factory):
    """The module's frame as a CSV file with a ``date`` column."""
    path = tmp_path_factory.mktemp("tune") / "data.csv"
    frame.reset_index().to_csv(path, index=False)
    return path


def load(storage, name):
    return optuna.load_study(study_name=name, storage=open_storage(storage))


def check_one_shared_study(storage, name, n_trials, n_workers=2):
    """One study holding exactly n_trials complete + pruned trials, numbered once each, run by the workers."""
    study = load(storage, name)
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(len(trials)))
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(done) == n_trials, [(t.number, t.state.name, t.user_attrs) for t in trials]
    for t in trials:
        assert t.state != TrialState.RUNNING
        if t.state == TrialState.FAIL:
            assert t.user_attrs["error"].startswith("surplus"), t.user_attrs
    params = [json.dumps(t.user_attrs["params"], sort_keys=True) for t in done]
    assert len(set(params)) == len(params)  # no configuration run twice
    # every trial was run by one of the workers; how many each got is a race (a worker may finish them all
    # before another has imported torch on a loaded machine), so the split is not checked
    assert 1 <= len({t.user_attrs["worker"] for t in done}) <= n_workers
    return study


def test_tune_command_writes_best_params_trials_and_model(csv, tmp_path, capsys):
    # in this process: the worker tests below run the command in new ones
    best, trials, model = tmp_path / "best.json", tmp_path / "trials.csv", tmp_path / "best.tsf"
    capsys.readouterr()
    code = main([str(a) for a in ("tune", csv, *FAST, "--n-trials", "2", "--output", best, "--trials-csv", trials,
                                  "--save-model", model)])
    assert code == 0, capsys.readouterr().err
    lines = capsys.readouterr().err.splitlines()
    progress = [line for line in lines if line.startswith("trial ")]
    assert len(progress) == 2 and "mse" in progress[0] and "best mse" in progress[0] and "2/2 done" in progress[1]
    summary = json.loads(best.read_text())
    assert summary["model"] == "itransformer" and summary["trials"] == {"complete": 2, "pruned": 0, "fail": 0}
    assert summary["fixed_params"]["d_model"] == 16 and "lookback" in summary["best_params"]
    table = pd.read_csv(trials)
    assert list(table["state"]) == ["COMPLETE", "COMPLETE"] and "learning_rate" in table.columns
    est = tsformer.load(model)
    assert est.get_params()["learning_rate"] == summary["best_params"]["learning_rate"]
    assert est.predict().shape == (H, 2)



def test_tune_command_in_process(csv, tmp_path, capsys):
    best = tmp_path / "best.json"
    best.write_text("precious")
    assert main(["tune", csv, *FAST, "--n-trials", "2", "--output", best, "--quiet"]) == 1
    assert "--force" in capsys.readouterr().err and best.read_text() == "precious"  # kept, before any training
    assert main(["tune", csv, *FAST, "--n-trials", "1", "--quiet", "--pruner", "none"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and json.loads(out)["trials"]["complete"] == 1
    assert main(["tune", csv, *FAST, "--workers", "0", "--quiet"]) == 1
    assert "--workers must be at least 1" in capsys.readouterr().err
    assert main(["tune", csv, *FAST, "--param", "bogus=1", "--quiet"]) == 1
    assert "unknown parameter 'bogus'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["tune", "--help"])
    help_text = capsys.readouterr().out
    for flag in ("--n-trials", "--timeout", "--storage", "--study-name", "--workers", "--output", "--save-model",
                 "--trials-csv", "--pruner", "--metric", "--n-windows", "--time-col", "--target", "--param", "--force"):
        assert flag in help_text
    assert "--worker-index" not in help_text and "tuned" in help_text


def test_workers_share_one_journal_study(csv, tmp_path):
    storage = tmp_path / "study.journal"
    r = run("tune", csv, *FAST, "--n-trials", "6", "--workers", "2", "--storage", storage, "--study-name", "j",
            "--output", tmp_path / "best.json")
    assert r.returncode == 0, r.stderr
    # the workers, not the parent, ran the trials; which worker got how many is a race (on a loaded machine
    # one may finish all six before the other has imported torch), so only the total is checked
    assert "[worker 0] trial" in r.stderr or "[worker 1] trial" in r.stderr
    study = check_one_shared_study(storage, "j", 6)
    assert json.loads((tmp_path / "best.json").read_text())["best_score"] == study.best_value


def _two_workers(csv, storage, name, n_trials):
    cmd = tsformer_cmd("tune", csv, *FAST, "--n-trials", n_trials, "--storage", storage, "--study-name", name, "-q")
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    return check_one_shared_study(storage, name, n_trials)


def test_two_processes_share_one_sqlite_study(csv, tmp_path):
    _two_workers(csv, f"sqlite:///{tmp_path / 'study.db'}", "s", 6)


def test_two_processes_share_one_postgresql_study(csv):
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"no PostgreSQL server given: set {POSTGRES_ENV}=postgresql://user:password@localhost/db "
                    "(.ci/run starts one and sets it)")
    name = f"test-{uuid.uuid4().hex[:8]}"
    try:
        _two_workers(csv, url, name, 6)
    finally:
        optuna.delete_study(study_name=name, storage=open_storage(url))


def test_a_killed_worker_is_replaced_and_the_rerun_completes_the_study(csv, tmp_path):
    storage = tmp_path / "study.journal"
    cmd = tsformer_cmd("tune", csv, *FAST, "--max-epochs", "2", "--n-trials", "3", "--storage", storage,
                       "--study-name", "k", "--heartbeat", "1", "-q")
    worker = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # kill it in the middle of its second trial
            time.sleep(0.2)
            try:
                states = [t.state for t in load(storage, "k").get_trials(deepcopy=False)]
            except (KeyError, FileNotFoundError):
                continue
            if TrialState.COMPLETE in states and TrialState.RUNNING in states:
                break
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.wait()
    killed = [t for t in load(storage, "k").trials if t.state == TrialState.RUNNING]
    assert len(killed) == 1
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    trials = {t.number: t for t in load(storage, "k").trials}
    assert trials[killed[0].number].state == TrialState.FAIL  # not counted as done
    assert "no heartbeat" in trials[killed[0].number].user_attrs["error"]
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials.values()) == 3
    assert not any(t.state == TrialState.RUNNING for t in trials.values())
