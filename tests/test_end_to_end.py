"""The whole pipeline through its command line, as an evaluator runs it.

The module's full runs (the shipped data, the same again from another folder, a messy extract,
the leadership variant) are started in the background as soon as pytest has collected the tests
(tests/e2e_runs.py, a plugin this module loads), so that they use the second core while the
in-process tests run; each test waits for the run it reads, and every test of a run reads the
same outputs.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pypdf import PdfReader

from helpers import config
from helpers.pipeline.results import validate_results

pytest.register_assert_rewrite("tests.e2e_runs")  # it is also this module's plugin, loaded below
from . import e2e_runs  # noqa: E402
from .e2e_runs import MARKERS, file_hashes  # noqa: E402
from .trials import estimate_row  # noqa: E402

pytest_plugins = ("tests.e2e_runs",)

SRCEVAL = Path(sys.executable).with_name("srceval")
A4_POINTS = (595, 842)


def srceval(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SRCEVAL), *args], capture_output=True, text=True, timeout=900)


def finished(name: str) -> tuple[Path, subprocess.CompletedProcess]:
    folder, command = e2e_runs.started(name)
    completed = command.result()
    assert completed.returncode == 0, completed.stderr
    return folder, completed


@pytest.fixture(scope="module")
def run():
    folder, completed = finished("run")
    return {"out": folder / "reports", "processed": folder / "processed", "stdout": completed.stdout,
            "raw_before": e2e_runs.raw_before(),
            "results": json.loads((folder / "reports" / "results.json").read_text())}


@pytest.fixture(scope="module")
def relative_run():
    caller, completed = finished("relative_run")
    return {"caller": caller, "out": caller / "rel" / "out", "stderr": completed.stderr}


@pytest.fixture(scope="module")
def messy_run():
    """A run on an extract with identifying columns (marker values), open investigations and a
    randomised non-crime incident: it must run, warn, and leak nothing."""
    folder, _ = finished("messy_run")
    return {"folder": folder, "markers": MARKERS, "results": json.loads((folder / "out" / "results.json").read_text())}


@pytest.fixture(scope="module")
def leadership_run():
    folder, _ = finished("leadership_run")
    return folder / "out"


def test_results_reproduce_the_published_figures(run):
    results = run["results"]
    validate_results(results)
    attrition = results["outcomes"]["attrition"]
    assert (attrition["control"]["events"], attrition["control"]["n"]) == (69, 125)
    assert (attrition["treatment"]["events"], attrition["treatment"]["n"]) == (54, 125)
    assert round(attrition["itt"]["risk_ratio"], 4) == 0.7826
    assert round(attrition["itt"]["relative_risk_reduction"], 3) == 0.217
    assert round(attrition["itt"]["risk_difference"], 3) == -0.120
    assert results["compliance"]["treatment_received_rate"] == 0.8 and results["flow"]["received_src"]["treatment"] == 100
    assert round(attrition["cace"]["risk_difference"], 3) == -0.150
    assert round(attrition["cace"]["complier_control_risk"], 3) == 0.580
    assert round(attrition["cace"]["relative_risk_reduction"], 3) == 0.259
    assert round(results["extrapolation"]["prevented"]["itt"]) == 1487
    assert round(results["extrapolation"]["prevented"]["full_compliance"]) == 1769
    assert round(attrition["itt"]["p_value_exact"], 3) == 0.076
    assert [round(v, 2) for v in attrition["itt"]["risk_ratio_ci"]] == [0.61, 1.01]
    assert results["allocation_audit"]["flags"] == []
    assert results["allocation_audit"]["allocation_ratio_p_value"] == 1.0


def test_the_shipped_runs_lin_interval_is_lm_lins(run):
    """estimatr::lm_lin on the shipped files (tests/reference/shipped_lin.R): t on n - k, to 1e-5."""
    from .reference_values import load

    r = load("shipped_lin")
    lin = estimate_row(run["results"], "risk_difference_adjusted_lin")
    assert [lin["conf_low"], lin["conf_high"]] == pytest.approx([r["lin.conf.low"], r["lin.conf.high"]], abs=1e-5)
    assert lin["p_value"] == pytest.approx(r["lin.p.value"], abs=1e-5) and lin["df"] == r["lin.df"]


def test_no_figure_of_the_shipped_run_is_a_rounding_error_or_a_signed_zero(run):
    from .ordinary_files import numbers_in, page_text

    text = (run["out"] / "results.json").read_text(encoding="utf-8")
    assert not re.search(r"-0\.0(?![0-9]*[1-9])", text)
    assert all(value == 0 or abs(value) >= 1e-12 for value in numbers_in(run["results"]))
    page = page_text((run["out"] / "report.html").read_text(encoding="utf-8"))
    assert not re.search(r"[-\u2212]0(?:\.0+)?(?![0-9.]*[1-9])(?:%| |$)", page)


def test_notebooks_give_what_the_stages_give(run, reference_results):
    """The executed notebooks and the in-process stage calls agree on every figure."""
    notebook, direct = dict(run["results"]), dict(reference_results)
    notebook.pop("provenance"), direct.pop("provenance")
    assert notebook == direct


def test_progress_is_shown_stage_by_stage(run):
    for stage in config.STAGES:
        assert f"] {stage} ..." in run["stdout"]
    assert re.search(r"done in \d+\.\d s", run["stdout"])


def test_every_output_is_written(run):
    out = run["out"]
    assert sorted(p.name for p in (out / "notebooks").iterdir()) == [f"{s}.ipynb" for s in config.STAGES]
    assert {"report.html", "report.pdf", "results.json"} <= {p.name for p in out.iterdir()}
    assert (run["processed"] / "analysis_table.parquet").is_file()
    assert len(pd.read_csv(run["processed"] / "exclusion_log.csv")) == 13
    assert not list(out.parent.glob(".reports-staging-*"))


def test_html_report_has_figures_and_no_code(run):
    page = (run["out"] / "report.html").read_text()
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/svg\+xml;base64', page)) >= 5
    assert "No description has been provided" not in page
    assert "Traceback" not in page and "Error" not in page
    assert "jp-InputArea" not in page and "from helpers" not in page
    assert "Summary" in page and "between 39% fewer and 1% more withdrawals" in page
    assert 'src="http' not in page  # self-contained: nothing fetched


def test_pdf_has_the_same_content_on_a4(run):
    reader = PdfReader(run["out"] / "report.pdf")
    text = "\n".join(page.extract_text() for page in reader.pages)
    flat = re.sub(r"\s+", " ", text)
    assert len(reader.pages) >= 5
    assert tuple(round(float(v)) for v in reader.pages[0].mediabox[2:]) == A4_POINTS
    for phrase in ("Summary", "between 39% fewer and 1% more withdrawals", "1,487", "1,769", "Page 1 of"):
        assert phrase in flat, phrase


def test_raw_files_are_never_modified(run):
    assert file_hashes(config.RAW_DIR) == run["raw_before"]


def test_bad_input_exits_2_and_leaves_the_earlier_report(run, tmp_path):
    out = tmp_path / "reports"
    shutil.copytree(run["out"], out)
    before = file_hashes(out)
    extract = pd.read_csv(config.DEFAULT_EXTRACT, dtype=str, keep_default_na=False).drop(columns=["Hate Strand"])
    broken = tmp_path / "extract.csv"
    extract.to_csv(broken, index=False)
    completed = srceval("run", "--extract", str(broken), "--out", str(out), "--processed", str(tmp_path / "p"))
    assert completed.returncode == 2
    assert "extract.csv, column 'hate_strand': required column is missing" in completed.stderr
    assert "No results were written" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert file_hashes(out) == before
    assert not (tmp_path / "p").exists() or not any((tmp_path / "p").iterdir())
    assert not list(tmp_path.glob(".reports-staging-*"))


def test_missing_input_file_is_a_clear_error(tmp_path):
    completed = srceval("run", "--extract", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "out"))
    assert completed.returncode == 2
    assert "nope.csv does not exist" in completed.stderr


def test_identifying_values_never_reach_an_output(messy_run):
    """Search every output byte for the planted marker values."""
    folder = messy_run["folder"]
    for path in [*(folder / "out").rglob("*"), *(folder / "processed").rglob("*")]:
        if path.is_file():
            content = path.read_bytes()
            for marker in messy_run["markers"].values():
                assert marker.encode() not in content, f"{marker} leaked into {path.name}"
    dropped = messy_run["results"]["inputs"]["extract"]["dropped_identifier_columns"]
    assert sorted(dropped) == sorted(messy_run["markers"])


def test_crime_references_never_reach_processed_data_or_a_report(messy_run):
    """A crime reference links to a victim: it joins the two files and is then left behind."""
    folder = messy_run["folder"]
    references = pd.read_csv(folder / "raw" / "crime_extract.csv", dtype=str)["Crime Ref"]
    assert len(references) > 200
    for path in [*(folder / "out").rglob("*"), *(folder / "processed").rglob("*")]:
        if path.is_file() and path.suffix != ".png":
            content = path.read_bytes()
            leaked = [ref for ref in references if ref.encode() in content]
            assert not leaked, f"{len(leaked)} crime references in {path.name}, e.g. {leaked[:3]}"


def test_warning_cases_run_and_report(messy_run):
    results = messy_run["results"]
    validate_results(results)
    assert sum(results["flow"]["outcome_open"].values()) == 3
    assert sum(results["flow"]["analysed"].values()) == 247
    warnings = " ".join(results["warnings"])
    assert "3 randomised report(s) have no outcome yet" in warnings
    assert "1 randomised report(s) are non-crime incidents" in warnings
    bounds = results["outcomes"]["attrition"]["itt"]["open_investigation_bounds"]
    assert bounds["open_treatment"] + bounds["open_control"] == 3
    low = bounds["src_open_cases_only"]["risk_difference"]
    high = bounds["bau_open_cases_only"]["risk_difference"]
    assert high <= results["outcomes"]["attrition"]["itt"]["risk_difference"] <= low or \
        low <= results["outcomes"]["attrition"]["itt"]["risk_difference"] <= high
    page = (messy_run["folder"] / "out" / "report.html").read_text()
    assert "have no outcome yet" in page and "non-crime incidents" in page


def test_two_runs_give_identical_results_and_figures(run, relative_run):
    again = json.loads((relative_run["out"] / "results.json").read_text())
    first = json.loads(json.dumps(run["results"]))
    assert again["provenance"]["command"] == "srceval run --out out"  # as typed, each path by its last part
    page_one = (relative_run["out"] / "report.html").read_text().partition("Contents")[0]
    assert "Command, each path by its last part: srceval run --out out" in page_one
    for results in (first, again):
        results["provenance"].pop("generated_at")
        results["provenance"].pop("command")
    assert again == first
    figures = file_hashes(relative_run["out"] / "figures")
    figures.pop("my_own_chart.png")
    assert figures == file_hashes(run["out"] / "figures")


def test_a_relative_out_from_another_folder_writes_the_report_there(relative_run):
    caller, out = relative_run["caller"], relative_run["out"]
    assert json.loads((out / "results.json").read_text())["flow"]["randomised"] == 250
    assert (out / "report.html").is_file() and (out / "report.pdf").is_file()
    assert (out / "processed" / "analysis_table.parquet").is_file()
    assert (out / "figures" / "my_own_chart.png").read_text() == "mine"
    assert not list((caller / "rel").glob(".out-staging-*")) and not (config.NOTEBOOKS_DIR / "rel").exists()
    assert "KeyboardInterrupt" not in relative_run["stderr"] and "Traceback" not in relative_run["stderr"]


def test_a_run_over_an_earlier_one_says_what_changed(run, relative_run):
    """The relative run's output folder held an earlier results.json (e2e_runs.EARLIER_RESULTS)."""
    page = (relative_run["out"] / "report.html").read_text()
    section = re.sub(r"<[^>]+>", " ", page[page.index('id="changes"'):page.index('id="flow"')])
    section = " ".join(section.split())
    assert "made on 2025-01-02T03:04:05+00:00 by srceval 0.0.9" in section
    assert "Reports randomised 240 250 yes" in section and "Allocated to SRC 120 125 yes" in section
    assert "Risk difference, as randomised −20.0% (−30.0% to −10.0%) −12.0% (−23.9% to 0.4%) yes" in section
    assert "Risk ratio, as randomised not in that run 0.783 (0.606 to 1.011) yes" in section
    assert 'id="changes"' not in (run["out"] / "report.html").read_text()  # a fresh folder: nothing to compare


def test_diff_lists_what_changed(run, tmp_path):
    changed = dict(run["results"], flow={**run["results"]["flow"], "randomised": 251})
    (tmp_path / "new.json").write_text(json.dumps(changed))
    completed = srceval("diff", str(run["out"] / "results.json"), str(tmp_path / "new.json"))
    assert completed.returncode == 0
    assert re.search(r"Headline figures \(1 changed\):\n  Reports randomised\s+250\s+->\s+251\s+\(flow\.randomised\)",
                     completed.stdout)
    same = srceval("diff", str(run["out"] / "results.json"), str(run["out"] / "results.json"))
    assert same.stdout.strip() == "No differences."


def test_leadership_variant_is_its_own_short_list_of_sections(leadership_run):
    page = (leadership_run / "report.html").read_text()
    assert "Summary" in page and "<strong>Recommendation.</strong>" in page and 'id="full-report"' in page
    assert "EMMIE summary" not in page and "Warnings, audit flags and skipped analyses</h2>" not in page
    assert "Was the allocation random?" not in page and "Appendix" not in page
    assert page.index("Bottom line") < page.index("Summary") and "SYNTHETIC DATA" in page  # its own provenance
    assert page.count("<img") == 1  # the one chart that tells the story
    assert len(PdfReader(leadership_run / "report.pdf").pages) <= 4


MALFORMED = {
    "empty file": (lambda frame, path: path.write_bytes(b""), "the file is empty"),
    "binary file": (lambda frame, path: path.write_bytes(b"\x00\x01PK\x03binary"), "binary file"),
    "header only": (lambda frame, path: frame.iloc[:0].to_csv(path, index=False), "header but no data rows"),
    "unknown outcome code": (lambda frame, path: frame.assign(**{"Outcome Code": "OC99"}).to_csv(path, index=False),
                             "column 'outcome_code', rows 2, 3, 4"),
    "bad yes/no": (lambda frame, path: frame.assign(src_completed="maybe").to_csv(path, index=False),
                   "column 'src_completed', rows 2, 3, 4"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_extract_is_refused_with_no_outputs(tmp_path, case):
    corrupt, message = MALFORMED[case]
    frame = pd.read_csv(config.DEFAULT_EXTRACT, dtype=str, keep_default_na=False)
    corrupt(frame, tmp_path / "crime_extract.csv")
    completed = srceval("run", "--extract", str(tmp_path / "crime_extract.csv"), "--out", str(tmp_path / "out"),
                        "--processed", str(tmp_path / "processed"))
    assert completed.returncode == 2
    assert "crime_extract.csv" in completed.stderr and message in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert not (tmp_path / "processed").exists() or not any((tmp_path / "processed").iterdir())


def test_simulate_command_writes_the_requested_design(tmp_path, params):
    from helpers.inputs.cleaning import clean_inputs

    completed = srceval("simulate", "--out", str(tmp_path), "--n-control", "100", "--n-treatment", "300",
                        "--compliance", "0.5", "--control-charge", "0.1", "--open-investigations", "4",
                        "--allocation-format", "csv")
    assert completed.returncode == 0, completed.stderr
    data = clean_inputs(tmp_path / "allocation_log.csv", tmp_path / "crime_extract.csv", params["outcomes"]).analysis
    assert data.groupby("allocation").size().to_dict() == {"BAU": 100, "SRC": 300}
    assert data.loc[data["allocation"] == "SRC", "received"].sum() == 150
    assert (~data["outcome_recorded"]).sum() == 4


def test_processed_data_of_another_extract_stays_beside_its_report(tmp_path):
    from helpers.cli import default_processed

    assert default_processed(config.REPORTS_DIR) == config.PROCESSED_DIR
    assert default_processed(tmp_path / "bcu") == tmp_path / "bcu" / "processed"


def test_a_failing_stage_is_one_paragraph_and_keeps_its_notebook(tmp_path, monkeypatch):
    """An error in the analysis (not the input) names the stage and keeps the executed notebook."""
    from helpers.pipeline import runner

    # stage 5 straight after stage 1: the effect estimates it reads do not exist
    monkeypatch.setattr(runner.config, "STAGES", ("01_data_cleaning", "05_extrapolation"))
    with pytest.raises(runner.RunFailure) as failure:
        runner.run_pipeline(allocation=config.DEFAULT_ALLOCATION, extract=config.DEFAULT_EXTRACT,
                            out=tmp_path / "out", params_file=config.PARAMETERS_FILE, processed_dir=tmp_path / "p",
                            progress=lambda line: None)
    assert failure.value.exit_code == 1
    message = str(failure.value)
    assert message.startswith("Stage 05_extrapolation failed with FileNotFoundError: 04_effect_estimation.json is "
                              "missing: run stage 04_effect_estimation first")
    kept = Path(message.rsplit("is kept at ", 1)[1].rstrip("."))
    assert kept.is_file() and kept.name == "05_extrapolation.ipynb"
    assert not (tmp_path / "out").exists() and not (tmp_path / "p").exists()


@pytest.fixture(scope="module")
def blocked_run():
    folder, _ = finished("blocked_run")
    return folder


def test_a_generated_blocked_trial_runs_through_srceval(blocked_run):
    """`srceval simulate --blocks` writes a blocked trial and its parameters; `srceval run` reports it as one."""
    trial, out = blocked_run / "blocked", blocked_run / "out"
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    validate_results(results)
    assert results["design"]["assignment"] == "blocked"
    assert results["design"]["description"].startswith("Blocked by borough")
    assert results["outcomes"]["attrition"]["itt"]["p_value_exact"] is None
    assert results["inputs"]["origin"]["synthetic"] is True
    assert results["inputs"]["origin"]["published"].startswith("nothing is taken from the published trial")  # not calibrated to the published trial
    assert (out / "report.pdf").is_file()
    assert results["provenance"]["parameters"]["design"] == {"assignment": "blocked", "blocks": "borough",
                                                             "clusters": None, "probability": 0.5}
    assert config.PARAMETERS_FILE.read_text(encoding="utf-8") != (trial / "parameters.yml").read_text()
