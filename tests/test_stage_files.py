"""The stage files follow their models, and a stage file edited or from another version is refused by name."""
from __future__ import annotations

import json

import pytest

from helpers import cli, config
from helpers.errors import StageFileError
from helpers.pipeline import runner, stages
from helpers.pipeline.context import open_stage
from helpers.pipeline.models.stages import STAGE_MODELS


@pytest.fixture(scope="module")
def run_context(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stage-files")
    ctx = open_stage(output_dir=folder / "reports", processed_dir=folder / "processed")
    stages.run_stages(ctx)
    return ctx


@pytest.fixture
def ctx(run_context, tmp_path):
    """A copy of the run's stage files, to edit."""
    copy = open_stage(output_dir=tmp_path / "reports", processed_dir=tmp_path / "processed")
    for stage in config.STAGES[:-1]:
        copy.files.stage_result(stage).write_bytes(run_context.files.stage_result(stage).read_bytes())
    return copy


def test_every_stage_of_a_run_writes_what_its_model_describes(run_context):
    for stage in config.STAGES[:-1]:
        data = json.loads(run_context.files.stage_result(stage).read_text(encoding="utf-8"))
        STAGE_MODELS[stage].model_validate_json(json.dumps(data), strict=True)
        assert run_context.read_stage_result(stage) == data  # read as written: validation changes nothing


def test_an_edited_figure_is_refused_naming_the_file_and_the_field(ctx):
    path = ctx.files.stage_result("02_allocation_audit")
    data = json.loads(path.read_text(encoding="utf-8"))
    data["ratio"]["p_value"] = "0.5"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(StageFileError) as refused:
        ctx.read_stage_result("02_allocation_audit")
    message = str(refused.value)
    assert str(path) in message and "ratio.p_value is not a number" in message and "edited" in message


def test_a_figure_outside_its_parameter_space_is_refused(ctx):
    path = ctx.files.stage_result("03_compliance_analysis")
    data = json.loads(path.read_text(encoding="utf-8"))
    data["rates"]["treatment"]["rate"] = 1.8
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(StageFileError, match=r"rates\.treatment\.rate is more than 1"):
        ctx.read_stage_result("03_compliance_analysis")


def test_a_file_from_another_version_is_refused(ctx):
    path = ctx.files.stage_result("05_extrapolation")
    data = json.loads(path.read_text(encoding="utf-8"))
    data["extrapolation"]["renamed_figure"] = data["extrapolation"].pop("withdrawals")
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(StageFileError) as refused:
        ctx.read_stage_result("05_extrapolation")
    assert "extrapolation.withdrawals is missing" in str(refused.value)
    assert "extrapolation.renamed_figure is not a field of this form" in str(refused.value)


def test_a_stage_file_that_is_not_json_is_refused(ctx):
    path = ctx.files.stage_result("01_data_cleaning")
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(StageFileError, match="cannot be read as JSON"):
        ctx.read_stage_result("01_data_cleaning")


def test_a_refused_stage_file_stops_the_run_with_exit_2_and_no_traceback(tmp_path, capsys, monkeypatch):
    from papermill.exceptions import PapermillExecutionError

    class Kernel:
        def execute(self, source, executed, parameters):
            raise PapermillExecutionError(0, 1, "ctx.read_stage_result(...)", StageFileError.__name__,
                                          "The stage file /x/02_allocation_audit.json is not what ...", [])

        def request_shutdown(self):
            pass

        def close(self, interrupted=False):
            pass

    monkeypatch.setattr(runner, "StageKernel", Kernel)
    assert cli.main(["run", "--out", str(tmp_path / "out")]) == 2
    message = capsys.readouterr().err
    assert "02_allocation_audit.json is not what" in message and "Traceback" not in message
    assert not (tmp_path / "out" / "results.json").exists()


def test_the_monitoring_context_checks_its_stage_files_too(tmp_path):
    from helpers.pipeline import monitor

    ctx = monitor.open_monitor(output_dir=tmp_path / "reports", processed_dir=tmp_path / "processed")
    path = ctx.files.stage_result("m2_effect_monitoring")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"estimate": 0.1}), encoding="utf-8")
    with pytest.raises(StageFileError, match="m2_effect_monitoring.json is not what stage m2_effect_monitoring"):
        ctx.read_stage_result("m2_effect_monitoring")
