"""deploy/ against the Kubernetes schema, as the ``kubernetes`` client's models describe it.

No cluster and no kustomize here, so a small structural checker walks every document through the
client's model classes: every key must be a field of the model at that place (a typo such as
``imagePullPolicyy`` fails), values must have the field's type, and the model must construct
(which enforces required fields). Then the learner-specific promises are checked.
"""

from __future__ import annotations

import inspect
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
import yaml

from learner.ingest.inventory_load import INVENTORY_RESOURCES

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
MODELS = {
    ("v1", "Namespace"): "V1Namespace",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("v1", "Service"): "V1Service",
    ("v1", "PersistentVolumeClaim"): "V1PersistentVolumeClaim",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "V1ClusterRole",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "V1ClusterRoleBinding",
    ("networking.k8s.io/v1", "NetworkPolicy"): "V1NetworkPolicy",
    ("v1", "Secret"): "V1Secret",
}
PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "object": (str, int, dict, list, bool, float),  # int-or-string, quantities, free-form
    "datetime": (str,),
    "date": (str,),
}


def schema_errors(value: Any, type_name: str, path: str) -> list[str]:
    """Where ``value`` does not fit the client's type ``type_name`` (empty: it fits)."""
    # The client spells containers ``List[X]``/``Dict[str, X]`` (older releases: ``list[X]``).
    if type_name.lower().startswith("list["):
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        inner = type_name[5:-1]
        return [
            e for i, item in enumerate(value) for e in schema_errors(item, inner, f"{path}[{i}]")
        ]
    if type_name.lower().startswith(("dict(", "dict[")):
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping"]
        inner = type_name[5:-1].split(", ", 1)[1]
        return [e for k, v in value.items() for e in schema_errors(v, inner, f"{path}.{k}")]
    if type_name in PRIMITIVES:
        ok = isinstance(value, PRIMITIVES[type_name]) and not (
            type_name == "int" and isinstance(value, bool)
        )
        return [] if ok else [f"{path}: expected {type_name}, got {value!r}"]
    model = getattr(kubernetes.client, type_name)
    if not isinstance(value, dict):
        return [f"{path}: expected a {type_name} mapping"]
    fields = {json_name: attribute for attribute, json_name in model.attribute_map.items()}
    errors = []
    for key, item in value.items():
        if key not in fields:
            errors.append(f"{path}.{key}: not a field of {type_name}")
        else:
            errors.extend(schema_errors(item, model.openapi_types[fields[key]], f"{path}.{key}"))
    return errors


class _Response:
    def __init__(self, document: dict[str, Any]) -> None:
        self.data = json.dumps(document)


def build_model(document: dict[str, Any], model: str) -> Any:
    """The client's model object for ``document`` (its constructor checks required fields)."""
    client = kubernetes.client.ApiClient()
    if "content_type" in inspect.signature(client.deserialize).parameters:  # client >= 35
        return client.deserialize(json.dumps(document), model, "application/json")
    return client.deserialize(_Response(document), model)


def resource_files() -> list[Path]:
    """Every file a kustomization under deploy/ lists as a resource (patches are not objects)."""
    files = []
    for kustomization in sorted(DEPLOY.rglob("kustomization.yaml")):
        listed = yaml.safe_load(kustomization.read_text()).get("resources", [])
        files += [kustomization.parent / entry for entry in listed if entry.endswith(".yaml")]
    return sorted(files)


def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in resource_files():
        for document in yaml.safe_load_all(path.read_text()):
            found.append((path.name, document))
    return found


def by_kind(kind: str) -> dict[str, Any]:
    matches = [doc for _, doc in documents() if doc["kind"] == kind]
    assert len(matches) == 1, kind
    return matches[0]


@pytest.mark.parametrize(("name", "document"), documents(), ids=lambda v: str(v)[:40])
def test_every_document_fits_the_kubernetes_schema(name: str, document: dict[str, Any]) -> None:
    model = MODELS.get((document.get("apiVersion"), document.get("kind")))
    assert model, f"{name}: unexpected {document.get('apiVersion')}/{document.get('kind')}"
    assert schema_errors(document, model, name) == []
    built = build_model(document, model)
    assert built.metadata.name


def test_the_checker_catches_typos_and_wrong_types() -> None:
    deployment = by_kind("Deployment")
    broken = json.loads(json.dumps(deployment))
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["imagePullPolicyy"] = "Always"
    container["ports"][0]["containerPort"] = "9090"
    errors = schema_errors(broken, "V1Deployment", "d")
    assert any("imagePullPolicyy: not a field of V1Container" in e for e in errors)
    assert any("containerPort: expected int" in e for e in errors)
    container["ports"][0]["containerPort"] = 9090
    del container["imagePullPolicyy"], container["name"]  # a required field
    with pytest.raises(ValueError, match="name"):
        build_model(broken, "V1Deployment")


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present
    for component in (DEPLOY / "components").iterdir():
        parts = yaml.safe_load((component / "kustomization.yaml").read_text())
        assert parts["kind"] == "Component"
        files = {p.name for p in component.glob("*.yaml")} - {"kustomization.yaml"}
        assert set(parts["resources"]) == files
    namespace = kustomization["namespace"]
    assert by_kind("Namespace")["metadata"]["name"] == namespace
    image = by_kind("Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image in {i["name"] for i in kustomization["images"]}


def test_the_deployment_runs_learn_safely() -> None:
    deployment = by_kind("Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert pod["serviceAccountName"] == by_kind("ServiceAccount")["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"] and container["resources"]["limits"]
    args = container["args"]
    assert args[0] == "learn"
    options = dict(a.split("=", 1) for a in args[1:])
    assert options["--metrics-addr"] == ":9090"
    port = next(p for p in container["ports"] if p["name"] == "metrics")
    assert port["containerPort"] == 9090
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert options["--state"].startswith("/data/") and options["--output-dir"].startswith("/data/")
    volumes = {v["name"]: v for v in pod["volumes"]}
    claim = volumes[mounts["/data"]]["persistentVolumeClaim"]["claimName"]
    assert claim == by_kind("PersistentVolumeClaim")["metadata"]["name"]
    assert "emptyDir" in volumes[mounts["/tmp"]]  # the only other writable place
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert "service.yaml" not in kustomization["resources"], "the Service is optional"
    service = by_kind("Service")
    assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"


def resources_the_code_lists() -> set[tuple[str, str]]:
    """(API group, plural resource) of every resource the cluster inventory lists."""
    found = set()
    for resource in INVENTORY_RESOURCES:
        group = resource.api_version.rpartition("/")[0]
        if resource.args:  # custom objects: (group, version, plural)
            found.add((resource.args[0], resource.args[2]))
        else:
            kind = resource.kind.lower()
            found.add((group, kind[:-1] + "ies" if kind.endswith("y") else kind + "s"))
    return found


def test_the_cluster_role_grants_exactly_what_the_code_lists() -> None:
    role = by_kind("ClusterRole")
    granted = {
        (group, resource)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert {v for rule in role["rules"] for v in rule["verbs"]} == {"list"}
    assert granted == resources_the_code_lists()
    assert ("", "pods") in granted and ("batch", "cronjobs") in granted
    binding = by_kind("ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    (subject,) = binding["subjects"]
    account = by_kind("ServiceAccount")["metadata"]
    assert (subject["name"], subject["namespace"]) == (account["name"], account["namespace"])


def test_the_learner_has_its_own_network_policy() -> None:
    policy = by_kind("NetworkPolicy")
    pod_labels = by_kind("Deployment")["spec"]["template"]["metadata"]["labels"]
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    (scrape,) = spec["ingress"]
    assert [p["port"] for p in scrape["ports"]] == ["metrics"] and scrape["from"]
    allowed = set()
    for rule in spec["egress"]:
        ports = frozenset((p["protocol"], p["port"]) for p in rule["ports"])
        for peer in rule.get("to", [{}]):
            pods = frozenset(peer.get("podSelector", {}).get("matchLabels", {}).items())
            allowed.add((pods, ports))
    assert (frozenset({("k8s-app", "kube-dns")}), frozenset({("UDP", 53), ("TCP", 53)})) in allowed
    assert (frozenset({("k8s-app", "hubble-relay")}), frozenset({("TCP", 4245)})) in allowed
    assert (frozenset({("k8s-app", "goldmane")}), frozenset({("TCP", 7443)})) in allowed
    assert (frozenset(), frozenset({("TCP", 443), ("TCP", 6443)})) in allowed
    assert all(rule.get("ports") for rule in spec["egress"]), "no rule opens every port"


# --- Dockerfile ----------------------------------------------------------------------------------

DOCKERFILE = DEPLOY.parent / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_dockerfile_base_images_are_pinned_slim_python() -> None:
    args = dict(
        rest.split("=", 1) for keyword, rest in instructions() if keyword == "ARG" and "=" in rest
    )
    bases = [rest.split()[0] for keyword, rest in instructions() if keyword == "FROM"]
    assert len(bases) >= 2, "multi-stage"
    for base in bases:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?@sha256:[0-9a-f]{64}", image), image


def test_the_image_installs_its_dependencies_from_the_lock() -> None:
    runs = [rest for keyword, rest in instructions() if keyword == "RUN"]
    assert any("pip install -c constraints.txt ." in rest for rest in runs)
    pins = {}
    for line in (DEPLOY.parent / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line}"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    project = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=!~ \[;]", requirement, maxsplit=1)[0]
        assert re.sub(r"[-_.]+", "-", name).lower() in pins, name
    assert "!constraints.txt" in (DEPLOY.parent / ".dockerignore").read_text().splitlines()


def test_dockerfile_runs_as_non_root_and_adds_nothing_from_the_network() -> None:
    steps = instructions()
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    final_stage = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    assert any(keyword == "USER" for keyword, _ in steps[final_stage:])
    assert not any(keyword == "ADD" for keyword, _ in steps)
    assert not any(re.search(r"https?://", rest) for keyword, rest in steps if keyword == "RUN")
    assert ("ENTRYPOINT", '["netpol-learner"]') in steps
    secret = re.compile(r"(PASSWORD|SECRET|TOKEN|API_?KEY|PRIVATE)", re.IGNORECASE)
    assert not [
        rest for keyword, rest in steps if keyword in {"ENV", "ARG"} and secret.search(rest)
    ]


def test_dockerfile_copies_only_what_exists_and_is_not_ignored() -> None:
    root = DOCKERFILE.parent
    for keyword, rest in instructions():
        if keyword == "COPY" and not rest.startswith("--from"):
            *sources, _ = rest.split()
            for source in sources:
                assert (root / source).exists(), source
    ignored = (root / ".dockerignore").read_text().splitlines()
    assert "*" in ignored and "!learner/" in ignored
