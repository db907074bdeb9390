#!/usr/bin/env python3
"""Agreement between `cerverus check` and checkov on the rules they share.

For every cerverus rule that names checkov checks (`cerverus explain all`), a failing and a
passing fixture are written; both tools judge all fixtures in one run each; for every fixture
the verdicts must agree: cerverus reports the rule  <=>  checkov fails at least one of the mapped
checks on that file. Prints the mapping table and exits 1 on any disagreement.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

DIGEST = "sha256:" + "0" * 64

GOOD_POD = f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: app, namespace: x}}
spec:
  selector: {{matchLabels: {{app: app}}}}
  template:
    metadata: {{labels: {{app: app}}}}
    spec:
      automountServiceAccountToken: false
      securityContext: {{runAsNonRoot: true, runAsUser: 10001, seccompProfile: {{type: RuntimeDefault}}}}
      containers:
        - name: app
          image: registry.example/app:1.0@{DIGEST}
          imagePullPolicy: Always
          securityContext: {{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, runAsUser: 10001, capabilities: {{drop: [ALL]}}}}
          resources: {{requests: {{cpu: 100m, memory: 64Mi}}, limits: {{cpu: 200m, memory: 128Mi}}}}
          livenessProbe: {{tcpSocket: {{port: 8080}}}}
          readinessProbe: {{tcpSocket: {{port: 8080}}}}
"""

GOOD_TF = """
resource "aws_security_group_rule" "web" {
  type              = "ingress"
  security_group_id = "sg-1"
  cidr_blocks       = ["0.0.0.0/0"]
  protocol          = "tcp"
  from_port         = 443
  to_port           = 443
  description       = "https"
}
resource "aws_launch_template" "n" {
  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }
}
resource "aws_db_instance" "d" {
  publicly_accessible = false
  storage_encrypted   = true
}
data "aws_iam_policy_document" "p" {
  statement {
    actions   = ["s3:GetObject"]
    resources = ["arn:aws:s3:::b/*"]
  }
}
resource "aws_cloudtrail" "t" {
  is_multi_region_trail = true
}
"""

GOOD_DOCKER = "FROM python:3.12-slim AS build\nRUN pip install --no-cache-dir app\nFROM python:3.12-slim\nCOPY --from=build /app /app\nUSER 10001\nHEALTHCHECK CMD true\n"


def pod(frm: str, to: str) -> str:
    assert frm in GOOD_POD, frm
    return GOOD_POD.replace(frm, to, 1)


def tf(frm: str, to: str) -> str:
    assert frm in GOOD_TF, frm
    return GOOD_TF.replace(frm, to, 1)


# rule -> (file suffix, failing text, passing text)
FIXTURES = {
    "CV-K8S-001": ("yaml", pod("allowPrivilegeEscalation: false,", "allowPrivilegeEscalation: false, privileged: true,"), GOOD_POD),
    "CV-K8S-002": ("yaml", pod("automountServiceAccountToken: false", "automountServiceAccountToken: false\n      hostNetwork: true"), GOOD_POD),
    "CV-K8S-005": ("yaml", pod("runAsNonRoot: true, runAsUser: 10001, seccompProfile", "seccompProfile").replace(" runAsNonRoot: true, runAsUser: 10001,", ""), GOOD_POD),
    "CV-K8S-006": ("yaml", pod("allowPrivilegeEscalation: false,", ""), GOOD_POD),
    "CV-K8S-007": ("yaml", pod(", seccompProfile: {type: RuntimeDefault}", ""), GOOD_POD),
    "CV-K8S-008": ("yaml", pod(" readOnlyRootFilesystem: true,", ""), GOOD_POD),
    "CV-K8S-009": ("yaml", pod("resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 200m, memory: 128Mi}}", "resources: {}"), GOOD_POD),
    "CV-K8S-010": ("yaml", pod("          readinessProbe: {tcpSocket: {port: 8080}}\n", ""), GOOD_POD),
    "CV-K8S-011": ("yaml", pod(f"app:1.0@{DIGEST}", "app:latest"), GOOD_POD),
    "CV-K8S-012": ("yaml", pod(f"app:1.0@{DIGEST}", "app:1.0"), GOOD_POD),
    "CV-K8S-013": ("yaml", pod("      automountServiceAccountToken: false\n", ""), GOOD_POD),
    "CV-K8S-014": (
        "yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: x}\nrules:\n  - apiGroups: [\"\"]\n    resources: [\"*\"]\n    verbs: [\"*\"]\n",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: x}\nrules:\n  - apiGroups: [\"\"]\n    resources: [pods]\n    verbs: [get]\n",
    ),
    "CV-K8S-004": ("yaml", pod("capabilities: {drop: [ALL]}", "capabilities: {add: [SYS_ADMIN]}"), GOOD_POD),
    "CV-TF-001": (
        "tf",
        'resource "aws_s3_bucket" "b" {\n  bucket = "x"\n}\n',
        'resource "aws_s3_bucket" "b" {\n  bucket = "x"\n}\nresource "aws_s3_bucket_public_access_block" "b" {\n  bucket                  = aws_s3_bucket.b.id\n  block_public_acls       = true\n  block_public_policy     = true\n  ignore_public_acls      = true\n  restrict_public_buckets = true\n}\n',
    ),
    "CV-TF-003": ("tf", tf("  from_port         = 443\n  to_port           = 443", "  from_port         = 22\n  to_port           = 22"), GOOD_TF),
    "CV-TF-004": ("tf", tf('http_tokens   = "required"', 'http_tokens   = "optional"'), GOOD_TF),
    "CV-TF-005": ("tf", tf("publicly_accessible = false", "publicly_accessible = true"), GOOD_TF),
    "CV-TF-006": ("tf", tf("storage_encrypted   = true", "storage_encrypted   = false"), GOOD_TF),
    "CV-TF-007": ("tf", tf('actions   = ["s3:GetObject"]\n    resources = ["arn:aws:s3:::b/*"]', 'actions   = ["*"]\n    resources = ["*"]'), GOOD_TF),
    "CV-TF-008": ("tf", tf("is_multi_region_trail = true", "is_multi_region_trail = false"), GOOD_TF),
    # checkov's CKV2_GHA_1 judges `write-all` only; a missing `permissions:` (which this rule also
    # reports) is left out of the comparison.
    "CV-GHA-002": (
        "github",
        "name: ci\non: [push]\npermissions: write-all\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n",
        "name: ci\non: [push]\npermissions:\n  contents: read\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n",
    ),
    "CV-DOCKER-001": ("Dockerfile", GOOD_DOCKER.replace("USER 10001\n", ""), GOOD_DOCKER),
    "CV-DOCKER-002": ("Dockerfile", GOOD_DOCKER.replace("COPY --from=build /app /app", "ADD https://example.com/app.tgz /app"), GOOD_DOCKER),
    "CV-DOCKER-003": ("Dockerfile", GOOD_DOCKER.replace("FROM python:3.12-slim\n", "FROM python:latest\n"), GOOD_DOCKER),
}


def write(root: Path, rule: str, verdict: str, suffix: str, text: str) -> Path:
    d = root / rule / verdict
    if suffix == "github":
        d = d / ".github" / "workflows"
    d.mkdir(parents=True, exist_ok=True)
    name = {"Dockerfile": "Dockerfile", "github": "ci.yml"}.get(suffix, f"main.{suffix}")
    (d / name).write_text(text)
    return d / name


def main() -> int:
    cerverus, venv_bin = sys.argv[1], Path(sys.argv[2])
    rules = json.loads(subprocess.run([cerverus, "explain", "all"], capture_output=True, text=True, check=True).stdout)
    mapping = {r["id"]: r["checkov"] for r in rules if r["checkov"]}
    missing = sorted(set(mapping) - set(FIXTURES))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = {}
        for rule, (suffix, bad, good) in FIXTURES.items():
            files[(rule, "fail")] = write(root, rule, "fail", suffix, bad)
            files[(rule, "pass")] = write(root, rule, "pass", suffix, good)
        ours = json.loads(subprocess.run([cerverus, "check", str(root), "--format", "json"], capture_output=True, text=True).stdout)
        ids = sorted({c for r in FIXTURES for c in mapping.get(r, [])})
        p = subprocess.run(
            [str(venv_bin / "checkov"), "-d", str(root), "--framework", "kubernetes", "terraform", "dockerfile", "github_actions",
             "--skip-download", "--quiet", "--compact", "-o", "json", "--check", ",".join(ids)],
            capture_output=True, text=True,
        )
        data = json.loads(p.stdout) if p.stdout.strip() else []
        reports = data if isinstance(data, list) else [data]
        theirs: dict[str, set[str]] = {}
        for rep in reports:
            for f in rep.get("results", {}).get("failed_checks", []):
                theirs.setdefault(str(root) + f["file_path"], set()).add(f["check_id"])
        ours_by_file: dict[str, set[str]] = {}
        for f in ours["findings"]:
            if f["waived"] is None:
                ours_by_file.setdefault(f["file"], set()).add(f["rule"])

        print(f"\n{'cerverus rule':<15} {'checkov checks':<34} fail-fixture  pass-fixture")
        disagreements = 0
        for rule in sorted(FIXTURES):
            checks = mapping.get(rule, [])
            cells = []
            for verdict in ("fail", "pass"):
                path = str(files[(rule, verdict)])
                ours_fail = rule in ours_by_file.get(path, set())
                theirs_fail = bool(theirs.get(path, set()) & set(checks))
                agree = ours_fail == theirs_fail
                disagreements += 0 if agree else 1
                cells.append(("agree" if agree else "DISAGREE") + f" ({'F' if ours_fail else 'P'}/{'F' if theirs_fail else 'P'})")
            print(f"{rule:<15} {', '.join(checks):<34} {cells[0]:<13} {cells[1]}")
        if missing:
            print(f"rules mapped to checkov without an agreement fixture: {', '.join(missing)}")
        print(f"\nagreement: {2 * len(FIXTURES) - disagreements} passed, {disagreements} failed")
        return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
