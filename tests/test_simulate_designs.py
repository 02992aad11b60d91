"""srceval simulate: blocked and cluster trials, replications, and the default output left as it was."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from helpers import config
from helpers.cli import main
from helpers.inputs.cleaning import clean_inputs
from helpers.inputs.reading import read_input
from helpers.inputs.simulate import (
    Assignment,
    TrialDesign,
    block_names,
    replications,
    simulate_trial,
)
from helpers.inputs.simulate_files import design_parameters
from helpers.parameters import load_parameters


def analysed(folder, params):
    allocation = next(folder.glob("allocation_log.*"))
    return clean_inputs(allocation, folder / "crime_extract.csv", params["outcomes"]).analysis


def test_default_simulate_command_writes_the_shipped_files(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path)]) == 0
    for shipped, columns in ((config.DEFAULT_ALLOCATION, ["crime_ref", "allocated_on", "allocation"]),
                             (config.DEFAULT_EXTRACT, ["crime_ref", "reported_on", "outcome_code", "borough"])):
        pd.testing.assert_frame_equal(read_input(shipped, columns).data,
                                      read_input(tmp_path / shipped.name, columns).data)
    assert not (tmp_path / "parameters.yml").exists()
    shipped = json.loads((config.RAW_DIR / "synthetic-manifest.json").read_text(encoding="utf-8"))
    fresh = json.loads((tmp_path / "synthetic-manifest.json").read_text(encoding="utf-8"))
    assert {k: v for k, v in fresh.items() if k != "files"} == {k: v for k, v in shipped.items() if k != "files"}
    assert "parameters.yml" not in capsys.readouterr().out


def test_blocked_trial_has_each_blocks_share(tmp_path, params):
    shares = (0.3, 0.5, 0.7, 0.5)
    trial = simulate_trial(seed=11, assignment=Assignment("blocked", "borough", shares, risk_spread=0.15))
    trial.write(tmp_path)
    data = analysed(tmp_path, params)
    by_block = data.groupby("borough")["assigned"].agg(["sum", "size"])
    for name, share in zip(block_names("borough"), shares):
        assert by_block.loc[name, "sum"] == round(share * by_block.loc[name, "size"])
    # Withdrawal rises across the blocks, so the shares differ where the risks differ: the design matters.
    control = data[data["assigned"] == 0].groupby("borough")["attrition"].mean()
    assert control["Wandsworth"] > control["Kingston"] + 0.15
    manifest = json.loads((tmp_path / "synthetic-manifest.json").read_text(encoding="utf-8"))
    assert manifest["published"].startswith("nothing is taken from the published trial") and manifest["design"]["assignment"]["kind"] == "blocked"
    assert load_parameters(tmp_path / "parameters.yml")["design"] == {
        "assignment": "blocked", "blocks": "borough", "clusters": None, "probability": 0.5}


def test_cluster_trial_allocates_whole_wards(tmp_path, params):
    trial = simulate_trial(TrialDesign(n_control=300, n_treatment=300), seed=12,
                           assignment=Assignment("cluster", "ward", (0.4,), cluster_sd=0.1))
    trial.write(tmp_path, allocation_name="allocation_log.csv")
    data = analysed(tmp_path, params)
    arms = data.groupby("ward")["assigned"].agg(["nunique", "first"])
    assert (arms["nunique"] == 1).all()
    assert arms["first"].sum() == round(0.4 * len(arms))
    assert load_parameters(tmp_path / "parameters.yml")["design"]["clusters"] == "ward"


def test_replications_differ_in_seed_and_with_a_spread_in_effect(tmp_path):
    trials = replications(runs=3, seed=100, effect_spread=0.05)
    assert [t.seed for t in trials] == [100, 101, 102]
    rates = {t.design.complier_withdrawal for t in trials}
    assert len(rates) == 3 and not any(t.calibrated for t in trials)
    plain = replications(runs=2, seed=100)
    assert all(t.design == TrialDesign() for t in plain)
    assert not plain[0].extract.equals(plain[1].extract)


def test_simulate_command_writes_a_folder_per_replication(tmp_path):
    assert main(["simulate", "--out", str(tmp_path), "--replications", "3", "--effect-spread", "0.05",
                 "--clusters", "ward", "--allocation-format", "csv"]) == 0
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert folders == ["run1", "run2", "run3"]
    manifests = [json.loads((tmp_path / f / "synthetic-manifest.json").read_text(encoding="utf-8")) for f in folders]
    assert [m["seed"] for m in manifests] == [20221001, 20221002, 20221003]
    assert all(m["invented"] == "every count and characteristic is invented" for m in manifests)
    assert all((tmp_path / f / "parameters.yml").is_file() for f in folders)


@pytest.mark.parametrize("arguments, message", [
    (["--blocks", "borough", "--block-shares", "0.3,0.5,0.7"], "give one SRC share per block (4: Kingston"),
    (["--block-shares", "0.3"], "--block-shares and --block-risk-spread need --blocks"),
    (["--effect-spread", "0.1"], "--effect-spread needs --replications"),
    (["--clusters", "ward", "--cluster-share", "1"], "--cluster-share must lie strictly between 0 and 1"),
    (["--replications", "0"], "at least 1"),
])
def test_simulate_options_that_cannot_make_a_trial_are_refused(tmp_path, capsys, arguments, message):
    assert main(["simulate", "--out", str(tmp_path / "x"), *arguments]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_design_parameters_replace_only_the_design(tmp_path):
    text = design_parameters(Assignment("cluster", "ward"))
    path = tmp_path / "p.yml"
    path.write_text(text, encoding="utf-8")
    loaded, original = load_parameters(path), load_parameters()
    assert loaded["design"]["assignment"] == "cluster"
    assert {k: v for k, v in loaded.items() if k != "design"} == {k: v for k, v in original.items() if k != "design"}
