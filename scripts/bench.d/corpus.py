#!/usr/bin/env python3
"""Write N Kubernetes manifests (Deployments, Services, NetworkPolicies, Roles) into DIR: a corpus
for `scripts/bench`. Deterministic: the same N gives the same files."""

import sys
from pathlib import Path

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  namespace: ns-{ns}
  labels: {{app: app-{i}}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: app-{i}}}
  template:
    metadata:
      labels: {{app: app-{i}}}
    spec:
      automountServiceAccountToken: {automount}
      securityContext: {{runAsNonRoot: true, runAsUser: 10001, seccompProfile: {{type: RuntimeDefault}}}}
      containers:
        - name: app
          image: registry.example/app-{i}:{tag}
          ports: [{{containerPort: 8080, name: http}}]
          securityContext: {{allowPrivilegeEscalation: false, readOnlyRootFilesystem: {ro}, capabilities: {{drop: [ALL]}}}}
          resources: {{requests: {{cpu: 100m, memory: 128Mi}}, limits: {{memory: 256Mi}}}}
          livenessProbe: {{httpGet: {{path: /healthz, port: http}}}}
          readinessProbe: {{httpGet: {{path: /ready, port: http}}}}
"""
SERVICE = """apiVersion: v1
kind: Service
metadata: {{name: app-{i}, namespace: ns-{ns}}}
spec:
  type: {svc}
  selector: {{app: app-{i}}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"""
POLICY = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: app-{i}, namespace: ns-{ns}}}
spec:
  podSelector: {{matchLabels: {{app: app-{i}}}}}
  policyTypes: [Ingress]
  ingress: [{{from: [{{podSelector: {{matchLabels: {{app: app-{j}}}}}}}], ports: [{{port: 8080}}]}}]
"""
ROLE = """apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: app-{i}, namespace: ns-{ns}}}
rules:
  - apiGroups: [""]
    resources: [{res}]
    verbs: [get, list]
"""

def main() -> None:
    n, out = int(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        ns = i % 50
        kind = i % 4
        if kind == 0:
            text = DEPLOYMENT.format(i=i, ns=ns, replicas=1 + i % 3, automount="false" if i % 5 else "true",
                                     tag="1.0" if i % 7 else "latest", ro="true" if i % 6 else "false")
        elif kind == 1:
            text = SERVICE.format(i=i, ns=ns, svc="ClusterIP" if i % 9 else "NodePort")
        elif kind == 2:
            text = POLICY.format(i=i, ns=ns, j=(i * 7) % n)
        else:
            text = ROLE.format(i=i, ns=ns, res="secrets" if i % 11 == 0 else "pods")
        (out / f"m{i:05d}.yaml").write_text(text)

if __name__ == "__main__":
    main()
