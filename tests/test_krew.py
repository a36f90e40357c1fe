"""deploy/krew/netpol.yaml: a Krew plugin manifest that installs the ``kubectl-netpol`` binary."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "deploy" / "krew" / "netpol.yaml"


def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_it_is_a_krew_plugin_named_like_its_file() -> None:
    plugin = manifest()
    assert plugin["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert plugin["kind"] == "Plugin"
    assert plugin["metadata"]["name"] == MANIFEST.stem == "netpol"
    spec = plugin["spec"]
    assert spec["version"].startswith("v")
    assert spec["shortDescription"] and spec["description"] and spec["homepage"]


def test_every_platform_installs_the_kubectl_netpol_executable_the_package_declares() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "kubectl-netpol" in scripts
    platforms = manifest()["spec"]["platforms"]
    assert platforms
    seen = set()
    for platform in platforms:
        labels = platform["selector"]["matchLabels"]
        seen.add((labels["os"], labels["arch"]))
        assert platform["bin"] == "kubectl-netpol"
        assert any(entry["from"] == "kubectl-netpol" for entry in platform["files"])
        assert platform["uri"].startswith("https://")
        assert "sha256" in platform
    assert len(seen) == len(platforms), "two platforms with one selector"


def test_the_placeholders_are_the_ones_the_docs_tell_to_fill_in() -> None:
    text = MANIFEST.read_text(encoding="utf-8")
    placeholders = set(re.findall(r"\$\{([A-Z0-9_]+)\}", text))
    docs = (ROOT / "docs" / "install.md").read_text(encoding="utf-8")
    assert placeholders
    for name in placeholders:
        assert name in docs or name.startswith("SHA256_"), name
    assert "SHA256_<OS>_<ARCH>" in docs
