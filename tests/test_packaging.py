"""The repository is a Python package with a `lakehouse` console script: installed on its own (no
clone beside it), the CLI finds its contracts and validates them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from lakehouse.core.settings import REPO_ROOT

UV = Path(os.environ.get("LAKEHOUSE_CACHE", Path.home() / ".cache" / "lakehouse")) / "uv" / "bin" / "uv"


def test_pip_install_gives_a_lakehouse_command_that_reads_the_packaged_contracts(tmp_path: Path) -> None:
    target = tmp_path / "site"
    installed = subprocess.run(
        [str(UV), "pip", "install", "-q", "--python", sys.executable, "--no-deps", "--target", str(target), "."],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    shutil.rmtree(REPO_ROOT / "build", ignore_errors=True)  # setuptools builds in the source tree
    for info in REPO_ROOT.glob("*.egg-info"):
        shutil.rmtree(info, ignore_errors=True)
    assert installed.returncode == 0, installed.stderr[-2000:]
    script = target / "bin" / "lakehouse"
    assert script.exists()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LAKEHOUSE_CONTRACTS_DIRS")}
    env["PYTHONPATH"] = str(target)
    run = subprocess.run(
        [str(script), "contracts", "validate"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr[-2000:]
    listed = subprocess.run([str(script), "contracts"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert "population.citizen" in listed.stdout
    assert str(target / "data_contracts" / "sources" / "population" / "citizen.odcs.yaml") in listed.stdout
    # the product CLI does not carry the synthetic generator
    assert not (target / "synthetic").exists()
