"""Validators of the Helm chart of the Cerverus workloads (`helm/charts/`), with Helm's own Go
engine (helm-python-sdk, no helm binary):

- helm lint --strict of every chart, with every environment's values file, subcharts included;
- every environment's values rendered, the objects through kubernetes-validate --strict (CRD
  kinds skipped, as for kubernetes/);
- one source of truth, two packagings: the objects the chart renders for an environment equal
  the ones `kubernetes/<env>/` holds for the workloads, compared with `cerverus diff`. Which
  objects are the workloads' is the generator's rule, written to `helm/charts/scope/<env>.json`;
  this check also proves it complete (every object of a workload namespace is either the
  chart's or named by a platform rule). `helm test` Pods are not part of the comparison, and
  the `helm.sh/hook*` annotations the chart adds to the Jobs Argo CD runs as sync hooks are
  removed before it (the same Jobs, hooks in both tools);
- values.schema.json: accepts every environment's values and rejects a misspelt key at each level an
  operator overrides (top, a service group, a workload, its image);
- the `helm test` Pods meet the restricted Pod Security Standard and run images pinned by digest;
- the `helm test` Pods can reach what they test in the cluster: with the test hooks added to
  `kubernetes/<env>/` (their ServiceAccount, NetworkPolicies and AuthorizationPolicy),
  `cerverus graph` (the checker's reachability model: NetworkPolicies and Istio
  AuthorizationPolicies) has an edge from each test Pod to the workload behind the Service its
  URL names, and `cerverus check` (rules, the cluster's Gatekeeper constraints, reachability
  against the spec) finds nothing the same tree without the hooks does not;
- `helm package` of each chart (what CI pushes to the OCI registry) loads and renders.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from pathlib import Path

import yaml

from common import Context, Result, run

CHARTS = "helm/charts"
HOOK = "helm.sh/hook"

# A chart that fails lint (a template that does not parse) and whose schema accepts anything;
# and a chart whose rendered object differs from the planted kubernetes/dev/ one and is not a
# valid ConfigMap.
BROKEN_FIXTURES: dict[str, str] = {
    "helm/charts/broken/Chart.yaml": "apiVersion: v2\nname: broken\nversion: 0.1.0\n",
    "helm/charts/broken/values.yaml": "a: 1\n",
    "helm/charts/broken/values.schema.json": "{}\n",
    "helm/charts/broken/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.a \n",
    "helm/charts/planted/Chart.yaml": "apiVersion: v2\nname: planted\nversion: 0.1.0\nappVersion: \"1.0.0\"\n",
    "helm/charts/planted/values.yaml": "value: \"1\"\n",
    "helm/charts/planted/values-dev.yaml": "value: \"2\"\n",
    "helm/charts/planted/values.schema.json": json.dumps(
        {"type": "object", "additionalProperties": False, "properties": {"value": {"type": "string"}}}
    ),
    "helm/charts/planted/templates/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: planted\n  namespace: x\n"
        "data:\n  value: {{ .Values.value | quote }}\nbogusField: 1\n"
    ),
    # A test Pod as root, with its capabilities, an unpinned image and no resources.
    "helm/charts/planted/templates/tests/test.yaml": (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: planted-test\n  namespace: x\n"
        "  annotations:\n    helm.sh/hook: test\nspec:\n  restartPolicy: Never\n"
        "  containers:\n    - name: t\n      image: curlimages/curl:latest\n"
    ),
    # A test Pod whose workload its namespace's default deny keeps it from (no test hooks admit it).
    "helm/charts/planted/templates/tests/test-unreached.yaml": (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: planted-unreached\n  namespace: x\n"
        "  annotations:\n    helm.sh/hook: test\nspec:\n  restartPolicy: Never\n"
        "  containers:\n    - name: t\n      image: curlimages/curl:latest\n"
        "      args: [\"http://planted.x.svc.cluster.local:8080/ready\"]\n"
    ),
    "kubernetes/dev/x/deployment-planted.yaml": (
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: planted\n  namespace: x\nspec:\n"
        "  selector:\n    matchLabels: {app: planted}\n  template:\n    metadata:\n      labels: {app: planted}\n"
        "    spec:\n      containers:\n        - name: planted\n          image: planted\n"
        "          ports: [{containerPort: 8080, name: http}]\n"
    ),
    "kubernetes/dev/x/networkpolicy-default-deny.yaml": (
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: default-deny\n  namespace: x\n"
        "spec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n"
    ),
    "helm/charts/scope/dev.json": json.dumps(
        {
            "environment": "dev",
            "namespaces": ["x"],
            "chart": {"x/configmap-planted.yaml": {"group": "g", "workload": "w"}},
            "platform": {"x/deployment-planted.yaml": {"rule": "planted"}, "x/networkpolicy-default-deny.yaml": {"rule": "planted"}},
        }
    ),
    "kubernetes/dev/x/configmap-planted.yaml": "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: planted\n  namespace: x\ndata:\n  value: \"3\"\n",
}

LINT = "helm lint --strict (helm-python-sdk)"
RENDER = "helm template + kubernetes-validate --strict"
COMPARE = "chart == kubernetes/<env> (cerverus diff)"
SCHEMA = "values.schema.json accepts env values, rejects unknown keys"
TESTS = "helm test Pods: restricted PSS, image pinned by digest"
REACH = "helm test hooks: Pods reach their Service (cerverus graph), no new cerverus check findings"
PACKAGE = "helm package: the archive CI pushes loads and renders"

MUST_NAME: dict[str, list[str]] = {
    LINT: ["helm/charts/broken"],
    RENDER: ["configmap-planted"],
    COMPARE: ["x/configmap-planted.yaml"],
    SCHEMA: ["helm/charts/broken"],
    TESTS: ["planted-test"],
    REACH: ["x/planted-test: asks no", "x/planted-unreached: cannot reach x/planted"],
    PACKAGE: ["helm/charts/broken"],
}


def charts(root: Path) -> list[Path]:
    """Top-level charts under helm/charts (not the vendored subcharts)."""
    base = root / CHARTS
    if not base.is_dir():
        return []
    return sorted(p.parent for p in base.glob("*/Chart.yaml"))


def env_values(chart: Path) -> dict[str, dict]:
    """Environment -> values of chart's values-<env>.yaml files."""
    out = {}
    for f in sorted(chart.glob("values-*.yaml")):
        out[f.stem.removeprefix("values-")] = yaml.safe_load(f.read_text()) or {}
    return out


def is_library(chart: Path) -> bool:
    meta = yaml.safe_load((chart / "Chart.yaml").read_text()) or {}
    return meta.get("type") == "library"


def rel(ctx: Context, p: Path) -> str:
    try:
        return str(p.relative_to(ctx.root))
    except ValueError:
        return str(p)


def lint(ctx: Context, helm) -> Result:
    r = Result(LINT, unit="lint runs")
    for chart in charts(ctx.root):
        runs = env_values(chart) or {"(defaults)": None}
        for env, values in runs.items():
            r.files += 1
            name = f"{rel(ctx, chart)} [{env}]"
            try:
                out = helm.lint(str(chart), values, strict=True, with_subcharts=True, kube_version=f"v{ctx.k8s_version}")
            except Exception as e:  # the engine raises on charts it cannot load
                r.failed += 1
                r.problems.append(f"{name}: {e}")
                continue
            # Severity 1 is INFO ("icon is recommended"); with --strict, warnings fail too.
            bad = [m for m in out.get("messages") or [] if (m.get("severity") or 0) >= 2]
            errors = out.get("errors") or []
            if bad or errors:
                r.failed += 1
                for m in bad:
                    r.problems.append(f"{name}: {m.get('path')}: {m.get('error')}")
                r.problems += [f"{name}: {e}" for e in errors if not any(e == m.get("error") for m in bad)]
            else:
                r.passed += 1
    return r


def split_docs(rendered: dict[str, str]) -> tuple[list[dict], list[str]]:
    """Objects of a render (test hooks apart) and problems (text that is not YAML)."""
    objects, problems = [], []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        try:
            docs = [d for d in yaml.safe_load_all(text) if d]
        except yaml.YAMLError as e:
            problems.append(f"{template}: rendered text is not YAML: {e}")
            continue
        objects += docs
    return objects, problems


def is_test_hook(o: dict) -> bool:
    return "test" in str(((o.get("metadata") or {}).get("annotations") or {}).get(HOOK, "")).split(",")


def object_path(o: dict) -> str:
    meta = o.get("metadata") or {}
    return f"{meta.get('namespace', 'cluster')}/{str(o.get('kind', '')).lower()}-{meta.get('name', '')}.yaml"


def render_all(ctx: Context, helm) -> dict[str, list[tuple[str, list[dict]]]]:
    """Environment -> [(chart, objects)] for every application chart with that env's values."""
    out: dict[str, list[tuple[str, list[dict]]]] = {}
    for chart in charts(ctx.root):
        if is_library(chart):
            continue
        for env, values in env_values(chart).items():
            out.setdefault(env, []).append((str(chart), values))
    return out


_RENDERED: dict[tuple[str, str, str], tuple[list[dict], list[str]]] = {}


def render(helm, chart: str, values: dict, env: str) -> tuple[list[dict], list[str]]:
    """Render once per chart, environment and values; callers get copies (the comparison edits
    annotations)."""
    key = (chart, env, json.dumps(values, sort_keys=True, default=str))
    if key not in _RENDERED:
        _RENDERED[key] = _render(helm, chart, values, env)
    objects, problems = _RENDERED[key]
    return copy.deepcopy(objects), list(problems)


def _render(helm, chart: str, values: dict, env: str) -> tuple[list[dict], list[str]]:
    try:
        loaded = helm.Chart.load(chart)
        rendered = loaded.render(values, name=Path(chart).name, namespace="default", is_install=True)
    except Exception as e:
        return [], [f"{chart} [{env}]: render failed: {e}"]
    return split_docs(rendered)


def render_and_validate(ctx: Context, helm, renders) -> Result:
    from run import kubernetes_validate  # the same selection of core kinds as for kubernetes/

    r = Result(RENDER, unit="objects")
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for env, items in renders.items():
            for chart, values in items:
                objects, problems = render(helm, chart, values, env)
                r.failed += len(problems)
                r.problems += problems
                for i, o in enumerate(objects):
                    f = Path(tmp) / env / Path(chart).name / f"{i:04d}-{object_path(o).replace('/', '_')}"
                    f.parent.mkdir(parents=True, exist_ok=True)
                    f.write_text(yaml.safe_dump(o, sort_keys=False))
                    files.append(f)
        k = kubernetes_validate(ctx.venv_bin, files, ctx.k8s_version)
    r.files, r.passed = k.files, k.passed
    r.failed += k.failed
    r.problems += k.problems
    return r


def compare(ctx: Context, helm, renders) -> Result:
    r = Result(COMPARE, unit="envs")
    if ctx.cerverus_bin is None:
        r.skipped = "no --cerverus-bin given"
        return r
    for env, items in sorted(renders.items()):
        r.files += 1
        scope_file = ctx.root / CHARTS / "scope" / f"{env}.json"
        if not scope_file.is_file():
            r.failed += 1
            r.problems.append(f"{rel(ctx, scope_file)}: missing (the chart's scope in kubernetes/{env}/)")
            continue
        scope = json.loads(scope_file.read_text())
        k8s = ctx.root / "kubernetes" / env
        problems = []
        # Completeness: every object of a workload namespace is the chart's or the platform's.
        known = set(scope.get("chart", {})) | set(scope.get("platform", {}))
        for ns in scope.get("namespaces", []):
            for f in sorted((k8s / ns).glob("*.yaml")):
                p = f"{ns}/{f.name}"
                if p not in known:
                    problems.append(f"kubernetes/{env}/{p}: in a workload namespace but neither the chart's nor named by a platform rule")
        with tempfile.TemporaryDirectory() as tmp:
            expected, actual = Path(tmp) / "kubernetes", Path(tmp) / "chart"
            for p in scope.get("chart", {}):
                src = k8s / p
                if not src.is_file():
                    problems.append(f"kubernetes/{env}/{p}: listed in {rel(ctx, scope_file)} but missing")
                    continue
                (expected / p).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, expected / p)
            expected.mkdir(parents=True, exist_ok=True)
            actual.mkdir(parents=True, exist_ok=True)
            for chart, values in items:
                objects, render_problems = render(helm, chart, values, env)
                problems += render_problems
                for o in objects:
                    if is_test_hook(o):
                        continue
                    annotations = (o.get("metadata") or {}).get("annotations") or {}
                    for k in [k for k in annotations if k.startswith(HOOK)]:
                        del annotations[k]
                    p = object_path(o)
                    target = actual / p
                    if target.exists():
                        problems.append(f"{p}: rendered twice by the charts")
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text("---\n" + yaml.safe_dump(o, sort_keys=True))
            d = run([str(ctx.cerverus_bin), "diff", "--format", "json", str(expected), str(actual)])
            try:
                diff = json.loads(d.stdout)
            except json.JSONDecodeError:
                problems.append(f"cerverus diff failed (exit {d.returncode}): {d.stderr.strip()[:500]}")
                diff = {}
            for a in diff.get("added", []):
                problems.append(f"{env}: only the chart renders {a}")
            for m in diff.get("removed", []):
                problems.append(f"{env}: the chart does not render {m}")
            for c in diff.get("changed", []):
                fields = "; ".join(f"{f['path']}: {json.dumps(f.get('old'))} -> {json.dumps(f.get('new'))}" for f in c.get("fields", [])[:5])
                problems.append(f"{env}: {c.get('file')} ({c.get('object')}) differs: {fields}")
            if d.returncode not in (0, 1):
                problems.append(f"cerverus diff exited {d.returncode}: {d.stderr.strip()[:300]}")
        if problems:
            r.failed += 1
            r.problems += problems
        else:
            r.passed += 1
    return r


def restricted(pod: dict) -> list[str]:
    """What keeps a Pod from the restricted Pod Security Standard, or from a pinned image."""
    spec = pod.get("spec") or {}
    psc = spec.get("securityContext") or {}
    out = []
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        out.append("pod seccompProfile is not RuntimeDefault")
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        sc = c.get("securityContext") or {}
        n = c.get("name")
        if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
            out.append(f"{n}: runAsNonRoot not set")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{n}: allowPrivilegeEscalation not false")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            out.append(f"{n}: capabilities not dropped (ALL)")
        if sc.get("readOnlyRootFilesystem") is not True:
            out.append(f"{n}: root filesystem writable")
        limits = (c.get("resources") or {}).get("limits") or {}
        if not {"cpu", "memory"} <= set(limits):
            out.append(f"{n}: no cpu/memory limits")
        if "@sha256:" not in str(c.get("image", "")):
            out.append(f"{n}: image {c.get('image')} not pinned by digest")
    return out


def test_pods(ctx: Context, helm, renders) -> Result:
    r = Result(TESTS, unit="pods")
    for env, items in sorted(renders.items()):
        for chart, values in items:
            objects, problems = render(helm, chart, values, env)
            r.failed += len(problems)
            r.problems += problems
            for o in objects:
                if not is_test_hook(o):
                    continue
                if o.get("kind") != "Pod":
                    continue  # the Pod's ServiceAccount and policies: judged by test_reach
                r.files += 1
                bad = restricted(o)
                if bad:
                    r.failed += 1
                    r.problems.append(f"{env}: {(o.get('metadata') or {}).get('name')}: {'; '.join(bad)}")
                else:
                    r.passed += 1
    return r


def test_url(pod: dict) -> tuple[str, str, int] | None:
    """(Service, namespace, port) of the in-cluster URL a test Pod asks (its last argument)."""
    for c in (pod.get("spec") or {}).get("containers") or []:
        for arg in reversed((c.get("command") or []) + (c.get("args") or [])):
            arg = str(arg)
            if not arg.startswith("http://"):
                continue
            host = arg.removeprefix("http://").split("/", 1)[0]
            name, _, port = host.partition(":")
            parts = name.split(".")
            if len(parts) >= 2 and port.isdigit():
                return parts[0], parts[1], int(port)
    return None


def check_findings(ctx: Context, tree: Path, env: str) -> tuple[set[tuple[str, str, str]], str | None]:
    """Unwaived findings of `cerverus check` on tree (with the environment's Gatekeeper
    constraints and the spec's reachability), as (rule, object, message); or an error."""
    cmd = [str(ctx.cerverus_bin), "check", str(tree), "--format", "json"]
    if (tree / "cluster").is_dir():
        cmd += ["--policy", str(tree / "cluster")]
    cmd += ["--spec", "default", "--env", env]
    d = run(cmd)
    try:
        findings = json.loads(d.stdout).get("findings", [])
    except json.JSONDecodeError:
        return set(), f"cerverus check failed (exit {d.returncode}): {d.stderr.strip()[:300]}"
    return {(f.get("rule", ""), f.get("object", ""), f.get("message", "")) for f in findings if not f.get("waived")}, None


def drop_unparseable(ctx: Context, tree: Path, limit: int = 50) -> list[str]:
    """Remove from tree the files `cerverus graph` cannot parse (yamllint and kubernetes-validate
    judge those), one per run as it names them; returns what was removed."""
    removed = []
    for _ in range(limit):
        g = run([str(ctx.cerverus_bin), "graph", str(tree), "--format", "json"])
        if g.returncode != 2:
            break
        bad = next((line.removeprefix("error: ").split(":", 1)[0] for line in g.stderr.splitlines() if line.startswith("error: ")), "")
        f = Path(bad)
        if not bad or not f.is_file() or tree not in f.parents:
            break
        f.unlink()
        removed.append(str(f.relative_to(tree)))
    return removed


def test_reach(ctx: Context, helm, renders) -> Result:
    """The test Pods in the cluster the environment describes: kubernetes/<env>/ plus the test
    hooks. Each Pod must reach the workload behind the Service its URL names, under the
    NetworkPolicies and AuthorizationPolicies (default deny, mTLS principals), and adding the
    hooks must not give `cerverus check` anything new to report."""
    r = Result(REACH, unit="test pods")
    if ctx.cerverus_bin is None:
        r.skipped = "no --cerverus-bin given"
        return r
    for env, items in sorted(renders.items()):
        k8s = ctx.root / "kubernetes" / env
        hooks: list[dict] = []
        for chart, values in items:
            objects, problems = render(helm, chart, values, env)
            r.failed += len(problems)
            r.problems += problems
            hooks += [o for o in objects if is_test_hook(o)]
        pods = [o for o in hooks if o.get("kind") == "Pod"]
        if not pods:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            tree, plain = Path(tmp) / env, Path(tmp) / "without-hooks"
            if k8s.is_dir():
                shutil.copytree(k8s, tree)
            tree.mkdir(parents=True, exist_ok=True)
            drop_unparseable(ctx, tree)
            shutil.copytree(tree, plain)
            for i, o in enumerate(hooks):
                f = tree / f"helm-test-{i:03d}-{object_path(o).replace('/', '_')}"
                f.write_text("---\n" + yaml.safe_dump(o, sort_keys=True))
            g = run([str(ctx.cerverus_bin), "graph", str(tree), "--format", "json"])
            try:
                edges = {(e["from"], e["to"]) for e in json.loads(g.stdout).get("edges", [])}
            except (json.JSONDecodeError, KeyError, TypeError):
                r.failed += 1
                r.problems.append(f"{env}: cerverus graph failed (exit {g.returncode}): {g.stderr.strip()[:300]}")
                continue
            for pod in pods:
                meta = pod.get("metadata") or {}
                name = f"{meta.get('namespace')}/{meta.get('name')}"
                r.files += 1
                target = test_url(pod)
                if target is None:
                    r.failed += 1
                    r.problems.append(f"{env}: {name}: asks no in-cluster http://<service>.<namespace>:<port> URL")
                elif (name, f"{target[1]}/{target[0]}") not in edges:
                    r.failed += 1
                    r.problems.append(
                        f"{env}: {name}: cannot reach {target[1]}/{target[0]} under the NetworkPolicies and "
                        f"AuthorizationPolicies of kubernetes/{env}/ plus the test hooks (cerverus graph)"
                    )
                else:
                    r.passed += 1
            if k8s.is_dir():
                before, e1 = check_findings(ctx, plain, env)
                after, e2 = check_findings(ctx, tree, env)
                for e in (e1, e2):
                    if e:
                        r.failed += 1
                        r.problems.append(f"{env}: {e}")
                new = sorted(after - before)
                if new:
                    r.failed += 1
                    r.problems += [f"{env}: with the test hooks, cerverus check reports {rule} {obj}: {msg}" for rule, obj, msg in new]
    return r


def package(ctx: Context, helm) -> Result:
    """What CI publishes to the OCI registry is `helm package` of each chart: the archive must
    load and, for an application chart, render with every environment's values."""
    r = Result(PACKAGE, unit="charts")
    with tempfile.TemporaryDirectory() as tmp:
        for chart in charts(ctx.root):
            r.files += 1
            name = rel(ctx, chart)
            try:
                helm.package(str(chart), destination=tmp)
                meta = yaml.safe_load((chart / "Chart.yaml").read_text()) or {}
                archive = Path(tmp) / f"{meta.get('name')}-{meta.get('version')}.tgz"
                loaded = helm.Chart.load_archive(archive.read_bytes())
                if not is_library(chart):
                    for values in (env_values(chart) or {"(defaults)": None}).values():
                        loaded.render(values, name=chart.name, namespace="default", is_install=True)
            except Exception as e:
                r.failed += 1
                r.problems.append(f"{name}: {str(e)[:500]}")
                continue
            r.passed += 1
    return r


def typo_overrides(chart: Path, env_over: dict) -> list[tuple[str, dict]]:
    """The values Helm would merge from a values file with one misspelt key, at each level an
    operator overrides: the top, a service group's section (the subchart's own schema), a
    workload's identity and its image."""
    base = yaml.safe_load((chart / "values.yaml").read_text()) or {}
    out = [("the top level", {**copy.deepcopy(env_over), "notAValuesKey": {"planted": True}})]
    groups = [k for k, v in base.items() if k != "global" and isinstance(v, dict)]
    if groups:
        out.append((f"{groups[0]}.enabeld", {groups[0]: {"enabeld": False}}))
    workloads = ((base.get("global") or {}).get("workloads") or {})
    if workloads:
        w = next(iter(workloads))
        out.append((f"global.workloads.{w}.replicass", {"global": {"workloads": {w: {"replicass": 3}}}}))
        out.append((f"global.workloads.{w}.image.tagg", {"global": {"workloads": {w: {"image": {"tagg": "1.0.0"}}}}}))
    return [(where, merged(base, over)) for where, over in out]


def merged(base, over):
    """Helm's merge of a values file over values.yaml (maps merged, null deletes)."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = merged(base.get(k), v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(over)


def schema(ctx: Context, helm) -> Result:
    r = Result(SCHEMA, unit="charts")
    for chart in charts(ctx.root):
        if is_library(chart):
            continue
        r.files += 1
        name = rel(ctx, chart)
        problems = []
        try:
            loaded = helm.Chart.load(str(chart))
        except Exception as e:
            r.failed += 1
            r.problems.append(f"{name}: does not load: {e}")
            continue
        if not (chart / "values.schema.json").is_file():
            problems.append(f"{name}: no values.schema.json")
        for env, values in env_values(chart).items():
            try:
                loaded.validate_schema(values)
            except Exception as e:
                problems.append(f"{name}: values-{env}.yaml rejected by its own schema: {e}")
        first = next(iter(env_values(chart).values()), {}) or {}
        for where, bad in typo_overrides(chart, first):
            try:
                loaded.validate_schema(bad)
                problems.append(f"{name}: values.schema.json accepts a typo'd key at {where}")
            except Exception:
                pass
        if problems:
            r.failed += 1
            r.problems += problems
        else:
            r.passed += 1
    return r


def results(ctx: Context) -> list[Result]:
    if not (ctx.root / CHARTS).is_dir():
        return []
    try:
        import helm_python as helm
    except ImportError as e:
        return [Result(n, skipped=f"helm-python-sdk not installed: {e}") for n in (LINT, RENDER, COMPARE, SCHEMA, TESTS, REACH, PACKAGE)]
    renders = render_all(ctx, helm)
    return [
        lint(ctx, helm),
        render_and_validate(ctx, helm, renders),
        compare(ctx, helm, renders),
        schema(ctx, helm),
        test_pods(ctx, helm, renders),
        test_reach(ctx, helm, renders),
        package(ctx, helm),
    ]
