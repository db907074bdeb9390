"""Find every shell script a bundle carries, for shellcheck.

Scripts hide in three places, and each is extracted the way its consumer will see it:
- Terraform heredocs: Terraform unescapes `$${` / `%%{` and substitutes `${…}` before the
  text reaches the instance. Of a heredoc, the parts that are shell are checked: a whole
  heredoc with a shell shebang, or the `text/x-shellscript` parts of a MIME multipart user
  data (what cloud-init / nodeadm run).
- Kubernetes objects and Helm values (YAML): every `command` (containers, init containers,
  probes' and hooks' `exec`) of the form `[sh|bash, -c, SCRIPT]`, with `args` appended as the
  kubelet does; and any string value that starts with a shell shebang (ConfigMap scripts).
- `*.sh` files.
Helm chart templates are skipped: their rendered output is compared with kubernetes/<env>/.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

SHELLS = {"sh": "sh", "bash": "bash", "dash": "dash", "ash": "sh", "ksh": "ksh", "busybox": "sh"}
SHEBANG = re.compile(r"^#!\s*(?:/usr/bin/env\s+)?(?:\S*/)?(sh|bash|dash|ash|ksh)\b")
HEREDOC_OPEN = re.compile(r"<<(-?)([A-Za-z_][A-Za-z0-9_-]*)\s*$")
# A Terraform interpolation or directive (an escaped `$${` / `%%{` is not one).
TF_INTERP = re.compile(r"(?<![$])\$\{[^}]*\}")
TF_DIRECTIVE = re.compile(r"(?<![%])%\{[^}]*\}")


@dataclass
class Script:
    origin: str  # where it was found, for the report
    dialect: str  # shellcheck's --shell
    text: str


def shebang_dialect(text: str) -> str | None:
    m = SHEBANG.match(text)
    return SHELLS[m.group(1)] if m else None


def terraform_text(template: str) -> str:
    """What a heredoc template evaluates to, with each interpolation replaced by a plain word."""
    text = TF_INTERP.sub("TF_VALUE", template)
    text = TF_DIRECTIVE.sub("", text)
    return text.replace("$${", "${").replace("%%{", "%{")


def heredocs(tf_text: str) -> list[tuple[int, str]]:
    """(line number of the opener, content) of every heredoc in a Terraform file."""
    lines = tf_text.split("\n")
    found = []
    i = 0
    while i < len(lines):
        m = HEREDOC_OPEN.search(lines[i])
        if not m:
            i += 1
            continue
        strip, marker = m.group(1) == "-", m.group(2)
        body = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != marker:
            body.append(lines[j])
            j += 1
        if strip:
            # `<<-` removes the smallest indentation of the non-blank lines.
            indents = [len(b) - len(b.lstrip(" ")) for b in body if b.strip()]
            cut = min(indents, default=0)
            body = [b[cut:] for b in body]
        found.append((i + 1, "\n".join(body) + "\n"))
        i = j + 1
    return found


def scripts_in_user_data(origin: str, text: str) -> list[Script]:
    """The shell a heredoc carries: itself when it starts with a shell shebang, or the
    `text/x-shellscript` parts of a MIME multipart document."""
    dialect = shebang_dialect(text)
    if dialect:
        return [Script(origin, dialect, text)]
    head = text.lstrip()[:2000].lower()
    if "content-type: multipart/" not in head:
        return []
    msg = email.message_from_string(text, policy=email.policy.compat32)
    out = []
    for n, part in enumerate(msg.walk()):
        if part.get_content_type() != "text/x-shellscript":
            continue
        payload = part.get_payload(decode=True)
        body = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(part.get_payload())
        out.append(Script(f"{origin} (MIME part {n}, text/x-shellscript)", shebang_dialect(body) or "sh", body))
    return out


def shell_command(argv: list) -> tuple[str, str] | None:
    """(dialect, script) when argv runs a script through a shell's -c option."""
    if not argv or not all(isinstance(a, str) for a in argv):
        return None
    name = argv[0].rsplit("/", 1)[-1]
    rest = argv[1:]
    if name == "busybox" and rest and rest[0] in ("sh", "ash"):
        rest = rest[1:]
    if name not in SHELLS:
        return None
    for k, a in enumerate(rest):
        if a == "--":
            return None
        if a.startswith("-") and not a.startswith("--") and "c" in a[1:]:
            return (SHELLS[name], rest[k + 1]) if k + 1 < len(rest) else None
        if not a.startswith("-"):
            return None
    return None


def walk_yaml(node, where: str, out: list[Script], origin: str) -> None:
    if isinstance(node, dict):
        command = node.get("command")
        if isinstance(command, list):
            args = node.get("args") if isinstance(node.get("args"), list) else []
            found = shell_command(command + args)
            if found:
                out.append(Script(f"{origin} {where}.command", found[0], found[1]))
        for k, v in node.items():
            walk_yaml(v, f"{where}.{k}", out, origin)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk_yaml(v, f"{where}[{i}]", out, origin)
    elif isinstance(node, str) and node.startswith("#!"):
        dialect = shebang_dialect(node)
        if dialect:
            out.append(Script(f"{origin} {where}", dialect, node))


def yaml_label(doc) -> str:
    if isinstance(doc, dict) and "kind" in doc:
        meta = doc.get("metadata") or {}
        return f"{doc.get('kind')}/{meta.get('name', '?')}"
    return "values"


def collect(root: Path) -> tuple[list[Script], list[str]]:
    """Every shell script under root, and the files that could not be read."""
    scripts: list[Script] = []
    problems: list[str] = []
    for f in sorted(root.rglob("*")):
        if not f.is_file():
            continue
        rel = f.relative_to(root)
        if "templates" in rel.parts and any((p / "Chart.yaml").is_file() for p in f.parents):
            # A Helm template is Go template text, not YAML. What it renders is the chart's
            # output, which the chart validator holds equal to kubernetes/<env>/ (judged here).
            continue
        if f.suffix in (".tf", ".tfvars"):
            for line, content in heredocs(f.read_text()):
                scripts += scripts_in_user_data(f"{rel}:{line} heredoc", terraform_text(content))
        elif f.suffix in (".yaml", ".yml"):
            try:
                docs = list(yaml.safe_load_all(f.read_text()))
            except yaml.YAMLError as e:
                problems.append(f"{rel}: not YAML: {e}")
                continue
            for doc in docs:
                if doc is not None:
                    walk_yaml(doc, "", scripts, f"{rel} {yaml_label(doc)}")
        elif f.suffix == ".sh":
            text = f.read_text()
            scripts.append(Script(str(rel), shebang_dialect(text) or "sh", text))
    return scripts, problems
