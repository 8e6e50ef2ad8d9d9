"""The deployment files fit together: the image the Kubernetes jobs name is the one the Dockerfile builds."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_kubernetes_names_the_image_the_dockerfile_builds() -> None:
    built = re.search(r"docker build -t (\S+) \.", _dockerfile())
    assert built, "the Dockerfile says how it is built"
    images = set(re.findall(r"image:\s*(\S+)", (ROOT / "jobs" / "kubernetes" / "cronjobs.yaml").read_text()))
    assert images == {built.group(1)}
    assert f"docker build -t {built.group(1)} ." in (ROOT / "README.md").read_text()


def test_the_image_copies_everything_the_package_build_needs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = {*wheel["packages"], *wheel["force-include"], "pyproject.toml", project["project"]["readme"]}
    copied = {part for line in _dockerfile().splitlines() if line.startswith("COPY ") for part in line.split()[1:-1]}
    assert needed <= copied, f"missing from the image: {needed - copied}"
    assert re.search(r'ENTRYPOINT \["opik-store"\]', _dockerfile())
    assert "USER opik-store" in _dockerfile(), "the jobs do not run as root"
    assert (ROOT / "LICENSE").read_text().lstrip().startswith("Apache License")


def _docker_works() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not _docker_works(), reason="no Docker daemon here: the image is not built (the files are checked)")
def test_the_image_builds_and_runs() -> None:
    subprocess.run(["docker", "build", "-t", "opik-store:test", str(ROOT)], check=True, timeout=1800)
    out = subprocess.run(["docker", "run", "--rm", "opik-store:test", "--help"], capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert out.returncode == 0 and "Manage the ClickHouse storage" in out.stdout
