#!/usr/bin/env python3
"""Offline checks of the Kubernetes manifests beside this file (docs/deploy.md).

No cluster is needed or contacted. Every resource is validated strictly (unknown fields are
errors) against the Kubernetes OpenAPI schemas that PyPI's kubernetes-validate bundles, for
each version in KUBERNETES_VERSIONS; a custom resource is validated against the schema in
schemas/ (KubeRay's RayCluster CRD, see schemas/README.md), and its pod templates against
Kubernetes' own PodTemplateSpec. A kind with no schema is an error, not a warning. Then
what a schema cannot see: names and keys that must refer to something in these files,
selectors that must select, the security settings every pod must have, and the variables
and trainyard.toml keys the server accepts (read from crates/server/src/config.rs). Last,
it breaks the manifests in a few ways in memory and fails unless each breakage is caught.

    check.py [FILE.yaml ...]        check these (default: every *.yaml here); exit 1 on a problem
    check.py --import-crd CRD.yaml VERSION OUT.json
                                    write one version's openAPIV3Schema of a CRD file as JSON
"""

import copy
import json
import re
import sys
import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
HERE = Path(__file__).resolve().parent
CONFIG_RS = HERE.parent.parent / "crates" / "server" / "src" / "config.rs"
NAMESPACE = "trainyard"
# Schemas of custom resources: (apiVersion, kind) -> file in schemas/.
CUSTOM = {("ray.io/v1", "RayCluster"): "raycluster-ray-v1.json"}
# Containers whose root file system stays writable, and why.
WRITABLE_ROOT = {"ray-head": "Ray writes under its home directory", "ray-worker": "Ray writes under its home directory"}
# Variables whose value is a secret (or holds one): only ever from a Secret.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|DATABASE")
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


class UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice in one mapping (PyYAML keeps the last)."""


def _mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load(path):
    with open(path) as f:
        return [doc for doc in yaml.load_all(f, Loader=UniqueKeyLoader) if doc]


def strict(schema):
    """A CRD schema as the API server with strict field validation reads it: an object with
    properties and no x-kubernetes-preserve-unknown-fields admits no other field."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {k: strict(v) for k, v in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        schema["additionalProperties"] = False
    return schema


def where(error):
    return ".".join(str(p) for p in error.absolute_path) or "(top)"


def pod_templates(doc):
    """(description, PodTemplateSpec, labels the pods get) of a resource that makes pods."""
    kind, name = doc["kind"], doc["metadata"]["name"]
    spec = doc.get("spec", {})
    if kind in WORKLOADS:
        template = spec.get("template", {})
        yield f"{kind}/{name}", template, template.get("metadata", {}).get("labels", {})
    elif kind == "RayCluster":
        # KubeRay adds these labels to every pod of the cluster.
        head = spec.get("headGroupSpec", {}).get("template", {})
        labels = {"ray.io/cluster": name, "ray.io/node-type": "head", "ray.io/group": "headgroup"}
        yield f"RayCluster/{name} head", head, {**head.get("metadata", {}).get("labels", {}), **labels}
        for group in spec.get("workerGroupSpecs", []):
            template = group.get("template", {})
            labels = {"ray.io/cluster": name, "ray.io/node-type": "worker", "ray.io/group": group.get("groupName")}
            yield (
                f"RayCluster/{name} group {group.get('groupName')}",
                template,
                {**template.get("metadata", {}).get("labels", {}), **labels},
            )


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).get("matchLabels", {}).items())


def server_config_names():
    """The TRAINYARD_* variables and trainyard.toml keys crates/server/src/config.rs accepts."""
    source = CONFIG_RS.read_text().split("#[cfg(test)]")[0]
    variables = set(re.findall(r'"(TRAINYARD_[A-Z0-9_]+)"', source))
    top = re.search(r"unknown key `\{key\}` \(known: ([^)]*)\)", source)
    if not variables or not top:
        raise SystemExit(f"check.py: cannot read the accepted variables and keys from {CONFIG_RS}")
    keys, sections = set(), {}
    for item in (k.strip() for k in top.group(1).split(",")):
        if item.startswith("["):
            section = item.strip("[]")
            body = re.search(rf"fn read_{section}\(.*?\n}}\n", source, re.S)
            listed = body and (
                re.search(r"\(known: ([a-z_, ]+)\)", body.group(0))
                or re.search(r"KNOWN: &\[&str\] =\s*&\[([^\]]*)\]", body.group(0))
            )
            if not listed:
                raise SystemExit(f"check.py: cannot read the keys of [{section}] from {CONFIG_RS}")
            sections[section] = {k.strip().strip('"') for k in listed.group(1).split(",") if k.strip()}
        else:
            keys.add(item)
    return variables, keys, sections


def load_all(paths):
    """[(path, resource)] of every file, and the problems reading them."""
    resources, problems = [], []
    for path in paths:
        try:
            docs = load(path)
        except (OSError, yaml.YAMLError) as e:
            problems.append(f"{path}: {e}")
            continue
        if not docs:
            problems.append(f"{path}: no resources")
        resources += [(path, doc) for doc in docs]
    return resources, problems


def check(resources):
    """Every problem of these resources."""
    problems = []

    # 1. Schemas.
    for path, doc in resources:
        if not isinstance(doc, dict) or not {"apiVersion", "kind", "metadata"} <= doc.keys():
            problems.append(f"{path}: a document without apiVersion, kind and metadata")
            continue
        name = f"{path.name}: {doc['kind']}/{doc['metadata'].get('name')}"
        if doc["kind"] != "Namespace" and doc["metadata"].get("namespace") != NAMESPACE:
            problems.append(f"{name}: namespace must be {NAMESPACE}")
        custom = CUSTOM.get((doc["apiVersion"], doc["kind"]))
        if custom:
            schema = strict(json.loads((HERE / "schemas" / custom).read_text()))
            errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=where)
            problems += [f"{name}: {where(e)}: {e.message} (schemas/{custom})" for e in errors]
        for version in KUBERNETES_VERSIONS:
            if custom:
                # The pod templates inside, against Kubernetes' own schema of a pod template.
                for label, template, _ in pod_templates(doc):
                    wrapper = {
                        "apiVersion": "v1",
                        "kind": "PodTemplate",
                        "metadata": {"name": "check"},
                        "template": template,
                    }
                    try:
                        kubernetes_validate.validate(wrapper, version, strict=True)
                    except kubernetes_validate.ValidationError as e:
                        problems.append(
                            f"{path.name}: {label}: template.{where(e)}: {e.message} (Kubernetes {version})"
                        )
                continue
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                problems.append(f"{name}: {where(e)}: {e.message} (Kubernetes {version})")
            except kubernetes_validate.SchemaNotFoundError:
                problems.append(f"{name}: no schema for {doc['apiVersion']} {doc['kind']}: add one to CUSTOM")

    # 2. What the schemas cannot see.
    docs = [doc for _, doc in resources if isinstance(doc, dict) and "kind" in doc and "metadata" in doc]
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"].get("name")] = doc
    secrets = {n: set(d.get("data", {})) | set(d.get("stringData", {})) for n, d in by_kind.get("Secret", {}).items()}
    config_maps = {n: set(d.get("data", {})) for n, d in by_kind.get("ConfigMap", {}).items()}
    pods = [(label, t, labels) for doc in docs for (label, t, labels) in pod_templates(doc)]
    # A StatefulSet's pods also mount the claims its volumeClaimTemplates make.
    claims = {}
    for doc in docs:
        if doc["kind"] == "StatefulSet":
            templates = doc["spec"].get("volumeClaimTemplates", [])
            claims[f"StatefulSet/{doc['metadata']['name']}"] = {t["metadata"]["name"] for t in templates}
    variables, toml_keys, toml_sections = server_config_names()

    def refers(label, kind, name, key=None):
        known = secrets if kind == "Secret" else config_maps
        if name not in known:
            problems.append(f"{label}: {kind} {name} is not in these files")
        elif key is not None and key not in known[name]:
            problems.append(f"{label}: {kind} {name} has no key {key}")

    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata'].get('name')}"
        spec = doc.get("spec", {})
        if doc["kind"] in WORKLOADS:
            if not selects(spec.get("selector"), spec.get("template", {}).get("metadata", {}).get("labels", {})):
                problems.append(f"{name}: its selector does not select its own pod template")
        if doc["kind"] == "StatefulSet":
            service = by_kind.get("Service", {}).get(spec.get("serviceName"))
            if not service or service["spec"].get("clusterIP") != "None":
                problems.append(f"{name}: serviceName must name a headless Service in these files")
        if doc["kind"] == "Service":
            selector = {"matchLabels": spec.get("selector") or {"": "no selector"}}
            chosen = [(label, t) for label, t, labels in pods if selects(selector, labels)]
            if not chosen:
                problems.append(f"{name}: its selector matches no pod template")
            for port in spec.get("ports", []):
                target = port.get("targetPort")
                for label, t in chosen:
                    names = {p.get("name") for c in t.get("spec", {}).get("containers", []) for p in c.get("ports", [])}
                    if isinstance(target, str) and target not in names:
                        problems.append(f"{name}: targetPort {target} is no port of {label}")
        if doc["kind"] in ("NetworkPolicy", "PodDisruptionBudget"):
            selector = spec.get("podSelector") if doc["kind"] == "NetworkPolicy" else spec.get("selector")
            if selector and selector.get("matchLabels") and not any(selects(selector, labels) for _, _, labels in pods):
                problems.append(f"{name}: its selector matches no pod template")
            for rule in spec.get("ingress", []):
                for peer in rule.get("from", []):
                    chosen = peer.get("podSelector")
                    if chosen and "namespaceSelector" not in peer and not any(selects(chosen, l) for _, _, l in pods):
                        problems.append(f"{name}: a podSelector in from matches no pod template")

    for label, template, _ in pods:
        spec = template.get("spec", {})
        security = spec.get("securityContext", {})
        if security.get("runAsNonRoot") is not True:
            problems.append(f"{label}: securityContext.runAsNonRoot must be true")
        if security.get("seccompProfile", {}).get("type") not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{label}: securityContext.seccompProfile.type must be RuntimeDefault")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{label}: automountServiceAccountToken must be false (nothing here uses the API)")
        if spec.get("enableServiceLinks") is not False:
            problems.append(f"{label}: enableServiceLinks must be false (the server refuses unknown TRAINYARD_*)")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for volume in volumes.values():
            if "secret" in volume:
                refers(label, "Secret", volume["secret"].get("secretName"))
                for item in volume["secret"].get("items", []):
                    refers(label, "Secret", volume["secret"].get("secretName"), item["key"])
            if "configMap" in volume:
                refers(label, "ConfigMap", volume["configMap"].get("name"))
        for container in spec.get("initContainers", []) + spec.get("containers", []):
            where_ = f"{label} container {container.get('name')}"
            image = container.get("image", "")
            if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
                problems.append(f"{where_}: image {image!r} needs a version tag")
            sc = container.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where_}: allowPrivilegeEscalation must be false")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                problems.append(f"{where_}: capabilities must drop ALL")
            if sc.get("readOnlyRootFilesystem") is not True and container.get("name") not in WRITABLE_ROOT:
                problems.append(f"{where_}: readOnlyRootFilesystem must be true (or in WRITABLE_ROOT, with a reason)")
            for bound in ("requests", "limits"):
                given = set(container.get("resources", {}).get(bound, {}))
                missing = {"cpu", "memory"} - given
                if missing:
                    problems.append(f"{where_}: resources.{bound} lacks {', '.join(sorted(missing))}")
                # The API server takes only these without a domain (nvidia.com/gpu has one).
                for resource in sorted(given):
                    if "/" not in resource and resource not in ("cpu", "memory", "ephemeral-storage"):
                        if not resource.startswith("hugepages-"):
                            problems.append(f"{where_}: resources.{bound}: no such resource {resource}")
            for mount in container.get("volumeMounts", []):
                if mount["name"] not in volumes and mount["name"] not in claims.get(label, set()):
                    problems.append(f"{where_}: volumeMount {mount['name']} names no volume of the pod")
            runs_trainyard = container.get("name") == "trainyard" or "trainyard" in image.rsplit("/", 1)[-1]
            for env in container.get("env", []):
                source = env.get("valueFrom", {})
                if "secretKeyRef" in source:
                    refers(where_, "Secret", source["secretKeyRef"]["name"], source["secretKeyRef"]["key"])
                elif "configMapKeyRef" in source:
                    refers(where_, "ConfigMap", source["configMapKeyRef"]["name"], source["configMapKeyRef"]["key"])
                elif SECRET_NAME.search(env["name"]):
                    problems.append(f"{where_}: {env['name']} must come from a Secret (secretKeyRef), not a literal")
                if runs_trainyard and env["name"].startswith("TRAINYARD_") and env["name"] not in variables:
                    problems.append(f"{where_}: the server refuses the unknown variable {env['name']}")

    # trainyard.toml in a ConfigMap: TOML, and only keys the server knows.
    for name, config_map in by_kind.get("ConfigMap", {}).items():
        text = config_map.get("data", {}).get("trainyard.toml")
        if text is None:
            continue
        try:
            table = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            problems.append(f"ConfigMap/{name}: trainyard.toml: {e}")
            continue
        for key, value in table.items():
            if isinstance(value, dict):
                if key not in toml_sections:
                    problems.append(f"ConfigMap/{name}: trainyard.toml: unknown section [{key}]")
                for inner in sorted(set(value) - toml_sections.get(key, set())):
                    problems.append(f"ConfigMap/{name}: trainyard.toml: unknown key {key}.{inner}")
            elif key not in toml_keys:
                problems.append(f"ConfigMap/{name}: trainyard.toml: unknown key {key}")
    return problems


def first(resources, kind):
    return next((doc for _, doc in resources if isinstance(doc, dict) and doc.get("kind") == kind), None)


def breakages(resources):
    """(what, change) pairs: each change breaks one resource in a way check() must report,
    so that a checker that passes everything (a schema gone missing, a warning where an
    error was) fails too."""

    def deployment_field(rs):
        first(rs, "Deployment")["spec"]["replica"] = 2

    def ray_field(rs):
        first(rs, "RayCluster")["spec"]["workerGroupSpec"] = []

    def ray_container_field(rs):
        worker = first(rs, "RayCluster")["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
        worker["imagePulPolicy"] = "IfNotPresent"

    def unknown_kind(rs):
        first(rs, "RayCluster")["kind"] = "RayJob"

    def secret_key(rs):
        env = first(rs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
        next(e for e in env if "secretKeyRef" in e.get("valueFrom", {}))["valueFrom"]["secretKeyRef"]["key"] += "-typo"

    def server_variable(rs):
        env = first(rs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
        env.append({"name": "TRAINYARD_NO_SUCH_SETTING", "value": "1"})

    return [
        ("an unknown Deployment field", deployment_field, "Deployment"),
        ("an unknown RayCluster field", ray_field, "RayCluster"),
        ("an unknown field in a RayCluster pod template", ray_container_field, "RayCluster"),
        ("a kind with no schema", unknown_kind, "RayCluster"),
        ("a Secret key that does not exist", secret_key, "Deployment"),
        ("a TRAINYARD_* variable the server refuses", server_variable, "Deployment"),
    ]


def import_crd(crd_path, version, out_path):
    crd = yaml.safe_load(Path(crd_path).read_text())
    served = {v["name"]: v for v in crd["spec"]["versions"]}
    if version not in served:
        raise SystemExit(f"{crd_path}: no version {version} (has {', '.join(served)})")
    schema = served[version]["schema"]["openAPIV3Schema"]
    Path(out_path).write_text(json.dumps(schema, sort_keys=True, separators=(",", ":")) + "\n")


def main(argv):
    if argv[:1] == ["--import-crd"]:
        if len(argv) != 4:
            raise SystemExit(__doc__)
        import_crd(*argv[1:])
        return 0
    paths = [Path(a) for a in argv] or sorted(HERE.glob("*.yaml"))
    resources, problems = load_all(paths)
    problems += check(resources)
    for problem in problems:
        print(f"ERROR {problem}")
    if problems:
        print(f"kubernetes manifests: {len(problems)} problem(s) in {len(resources)} resources")
        return 1
    caught = 0
    for what, change, kind in breakages(resources):
        if first(resources, kind) is None:
            print(f"kubernetes manifests: no {kind} here to break with {what}")
            continue
        broken = copy.deepcopy(resources)
        change(broken)
        if not check(broken):
            print(f"ERROR the checker passed {what}: it would pass a broken manifest")
            return 1
        caught += 1
    print(
        f"kubernetes manifests: {len(resources)} resources in {len(paths)} files valid against Kubernetes "
        f"{' and '.join(KUBERNETES_VERSIONS)} (kubernetes-validate {kubernetes_validate.__version__}, strict), "
        f"cross-references and pod security checked; {caught} deliberate breakages caught"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
