"""Output folders a run must never write to are refused before anything runs."""
from pathlib import Path

import pytest

from helpers.pipeline import outputs


@pytest.mark.parametrize("folder", ["/", "/etc", "/usr", "/home"])
def test_the_root_and_system_folders_are_refused(folder):
    """`--out /` once wrote a report and a manifest into the filesystem's root."""
    with pytest.raises(outputs.RefusedPath, match="root or a system folder"):
        outputs.check_folder(Path(folder), "output folder")


def test_a_folder_of_ones_own_under_a_system_folder_is_accepted(tmp_path):
    assert outputs.check_folder(tmp_path / "report", "output folder") == [tmp_path / "report"]


def test_diff_refuses_a_file_that_is_not_results(tmp_path, capsys, reference_results):
    import json

    from helpers.cli import main
    good = tmp_path / "results.json"
    good.write_text(json.dumps(reference_results), encoding="utf-8")
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "other.json").write_text('{"a": 1}', encoding="utf-8")
    (tmp_path / "short.json").write_text('{"schema_version": "1", "outcomes": {}, "provenance": {}}', encoding="utf-8")
    assert main(["diff", str(good), str(good)]) == 0
    assert main(["diff", str(good), str(tmp_path / "bad.json")]) == 2
    assert "bad.json cannot be read: it is not JSON" in capsys.readouterr().err
    assert main(["diff", str(good), str(tmp_path / "other.json")]) == 2
    assert "is not an srceval results.json" in capsys.readouterr().err
    assert main(["diff", str(good), str(tmp_path / "short.json")]) == 2
    message = capsys.readouterr().err
    assert "does not follow the results schema (at the top level: " in message and "is a required property" in message
