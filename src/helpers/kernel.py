"""Register the project's Jupyter kernel inside the virtual environment.

Like ``python -m ipykernel install --sys-prefix``, but the kernel logs only errors, so a run's
progress is not interleaved with the kernel's start-up notices.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

NAME = "srceval"


def install(prefix: Path | None = None) -> Path:
    folder = Path(prefix or sys.prefix) / "share" / "jupyter" / "kernels" / NAME
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", "--log-level=ERROR"],
        "display_name": f"Python ({NAME})",
        "language": "python",
        "metadata": {"debugger": True},
    }
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    return folder


if __name__ == "__main__":
    print(f"Installed kernel {NAME} in {install()}")
