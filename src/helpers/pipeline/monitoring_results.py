"""monitoring.json: the monitoring stages' results in one file, built and checked by its pydantic model."""
from __future__ import annotations

import platform
from datetime import datetime, timezone
from pathlib import Path

from helpers import __version__
from helpers.inputs.reading import sha256_of
from helpers.inputs.rollout import PLAN_FILE
from helpers.pipeline.context import to_jsonable, write_json
from helpers.pipeline.models import Monitoring
from helpers.pipeline.monitor import MonitorContext, design_statement
from helpers.pipeline.results import git_commit, package_versions


def provenance(ctx: MonitorContext, inputs: dict, plan: dict | None) -> dict:
    """Every file the run read with its SHA-256, the command, the parameters and the software."""
    files = [{"role": "crime extract", "file": inputs["extract"]["file"], "sha256": inputs["extract"]["sha256"],
              "rows": inputs["extract"]["rows"]},
             {"role": "roll-out schedule", "file": inputs["schedule"]["file"], "sha256": inputs["schedule"]["sha256"],
              "rows": inputs["schedule"]["rows"]}]
    extra = [("parameters file", ctx.params_file)]
    if plan is not None:
        extra.append(("randomisation plan", Path(ctx.schedule_path).parent / PLAN_FILE))
    if ctx.trial_results is not None:
        extra.append(("trial results", ctx.trial_results))
    files += [{"role": role, "file": Path(path).name, "sha256": sha256_of(Path(path))} for role, path in extra]
    return {"command": ctx.command, "files": files, "parameters": ctx.params, "package_version": __version__,
            "git_commit": git_commit(), "python": platform.python_version(), "packages": package_versions(),
            "generated_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat()}


def assemble_monitoring(ctx: MonitorContext) -> dict:
    """monitoring.json as a plain dict, validated by :class:`~helpers.pipeline.models.Monitoring`."""
    delivery_stage = ctx.read_stage_result("m1_delivery_monitoring")
    effect = ctx.read_stage_result("m2_effect_monitoring")
    origin = delivery_stage["origin"]
    extract = {**delivery_stage["extract"], "synthetic": bool(origin["synthetic"]),
               "origin": (f"SYNTHETIC: made by {origin['generator']} (seed {origin['seed']}); {origin['invented']}"
                          if origin["synthetic"] else None)}
    document = {"provenance": provenance(ctx, delivery_stage["inputs"], delivery_stage["plan"]),
                "design": design_statement(delivery_stage["plan"]), "extract": extract,
                "delivery": delivery_stage["delivery"], "effect": effect,
                "warnings": delivery_stage["warnings"], "exclusions": delivery_stage["exclusions"]}
    return to_jsonable(Monitoring.model_validate(to_jsonable(document)).model_dump(mode="json"))


def write_monitoring(ctx: MonitorContext, monitoring: dict) -> Path:
    return write_json(ctx.monitoring_json, monitoring)
