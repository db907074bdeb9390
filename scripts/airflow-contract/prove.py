"""Run real Airflow with exactly the environment and files its rendered pods get (see ./run).

Reads the rendered Airflow workloads and ExternalSecrets, builds one root directory per role in
which only the pod's writable volumes are writable (owned by the pod's UID 10001) and its secret
volumes hold the files the kubelet would project (local test values), and runs the role's
commands as UID 10001 with the container's env (pod paths remapped under the role's root, in
`_CMD` commands too). Every secret must arrive as a file: a `secretKeyRef` variable fails, and a
`X_CMD` must `cat` a mounted secret file; Airflow then resolves X by running it. Exits non-zero
on the first broken promise.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import yaml
from cryptography.fernet import Fernet

POD_UID = 10001
IMAGE_HOME = "/home/airflow"  # the image's HOME; the pod does not set one
IMAGE_DIRS = ["/opt/airflow/dags", "/opt/airflow/plugins", IMAGE_HOME]
START_TIMEOUT = 120


def fail(msg: str) -> None:
    print(f"airflow-contract: FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def ok(msg: str) -> None:
    print(f"    ok  {msg}")


def load(manifests: str) -> list[dict]:
    out = []
    for f in sorted(glob.glob(f"{manifests}/*.yaml")):
        with open(f, encoding="utf-8") as fh:
            out.extend(d for d in yaml.safe_load_all(fh) if d)
    return out


def template(obj: dict) -> dict:
    return obj["spec"]["template"]


def airflow_workloads(objs: list[dict]) -> list[dict]:
    def is_airflow(o: dict) -> bool:
        if o.get("kind") not in ("Deployment", "StatefulSet"):
            return False
        image = template(o)["spec"]["containers"][0]["image"]
        return image.split("@")[0].rsplit(":", 1)[0].endswith("/cerverus/airflow")

    return [o for o in objs if is_airflow(o)]


def render_go_template(text: str, values: dict[str, str]) -> str:
    """The subset of ESO's v2 templates our ExternalSecrets use: {{ .k }} and {{ .k | urlquery }}."""
    out = text
    for k, v in values.items():
        out = out.replace("{{ .%s | urlquery }}" % k, urllib.parse.quote_plus(v))
        out = out.replace("{{ .%s }}" % k, v)
    if "{{" in out:
        fail(f"template uses more than this test understands: {text}")
    return out


class Secrets:
    """Local stand-ins for what External Secrets would put in each Kubernetes Secret."""

    def __init__(self, objs: list[dict], args: argparse.Namespace) -> None:
        self.external = {o["spec"]["target"]["name"]: o for o in objs if o.get("kind") == "ExternalSecret"}
        self.remote = {  # what Secrets Manager would hold, by the ExternalSecret's secretKey
            "token": args.redis_token,
            "host": args.redis_host,
            "port": str(args.redis_port),
            "AIRFLOW__WEBSERVER__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        }
        # A rotated database credential holds the JSON fields AWS's rotation function reads and
        # writes (engine, host, port, username, password, dbname); its ExternalSecret templates
        # the URL from them. Here they are the local PostgreSQL's.
        pg = urllib.parse.urlsplit(args.pg_url)
        self.database = {
            "username": urllib.parse.unquote(pg.username or ""),
            "password": urllib.parse.unquote(pg.password or ""),
            "host": pg.hostname or "",
            "port": str(pg.port or 5432),
            "dbname": pg.path.lstrip("/"),
        }

    def remote_for(self, es: dict) -> dict[str, str]:
        """What Secrets Manager holds for this ExternalSecret, by secretKey."""
        keys = {d["secretKey"] for d in es["spec"]["data"]}
        return self.database if set(self.database) <= keys else self.remote

    def making(self, key: str) -> str:
        """The Secret whose ExternalSecret makes `key` (through its template or as a plain key)."""
        for name, es in self.external.items():
            tpl = es["spec"]["target"].get("template", {}).get("data") or {}
            if key in tpl or key in {d["secretKey"] for d in es["spec"]["data"]}:
                return name
        fail(f"no ExternalSecret makes {key}")

    def keys(self, name: str) -> list[str]:
        es = self.external.get(name)
        if es is None:
            fail(f"the pod mounts Secret {name}, which no ExternalSecret makes")
        tpl = es["spec"]["target"].get("template", {}).get("data")
        return sorted(tpl) if tpl else [d["secretKey"] for d in es["spec"]["data"]]

    def get(self, name: str, key: str) -> str:
        es = self.external.get(name)
        if es is None:
            fail(f"the pod reads Secret {name}, which no ExternalSecret makes")
        data = {}
        remote = self.remote_for(es)
        for d in es["spec"]["data"]:
            if d["secretKey"] not in remote:
                fail(f"no local value for {name}/{d['secretKey']}")
            data[d["secretKey"]] = remote[d["secretKey"]]
        tpl = es["spec"]["target"].get("template", {}).get("data")
        values = {k: render_go_template(v, data) for k, v in tpl.items()} if tpl else data
        if key not in values:
            fail(f"the pod reads key {key} of Secret {name}, which its ExternalSecret does not make")
        return values[key]


class Role:
    def __init__(self, obj: dict, work: Path, venv: str, sec: Secrets, args: argparse.Namespace) -> None:
        self.obj = obj
        self.name = obj["metadata"]["name"]
        pod = template(obj)["spec"]
        self.container = pod["containers"][0]
        self.root = work / "roots" / self.name
        self.args = args
        self.writable: list[str] = []
        claims = {t["metadata"]["name"] for t in obj["spec"].get("volumeClaimTemplates", [])}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for d in IMAGE_DIRS:
            (self.root / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
        # Secret volumes as the kubelet projects them: one file per key (or per item), readable by
        # the pod's fsGroup, the values External Secrets would make. Old mtimes: the kubelet
        # wrote them, not the program (see writes_outside_volumes).
        self.secret_files: dict[str, tuple[str, str]] = {}  # pod path -> (secret, key)
        for m in self.container.get("volumeMounts", []):
            path = self.root / m["mountPath"].lstrip("/")
            path.mkdir(parents=True, exist_ok=True)
            vol = volumes.get(m["name"], {})
            if "secret" in vol:
                name = vol["secret"]["secretName"]
                items = vol["secret"].get("items") or [{"key": k, "path": k} for k in sec.keys(name)]
                for it in items:
                    f = path / it["path"]
                    f.write_text(sec.get(name, it["key"]), encoding="utf-8")
                    os.chown(f, 0, POD_UID)
                    os.chmod(f, vol["secret"].get("defaultMode", 0o644))
                    os.utime(f, (1, 1))
                    self.secret_files[f"{m['mountPath'].rstrip('/')}/{it['path']}"] = (name, it["key"])
            if m.get("readOnly"):
                continue
            if "emptyDir" in vol or m["name"] in claims:
                os.chown(path, POD_UID, POD_UID)
                self.writable.append(m["mountPath"])
        if not self.container["securityContext"].get("readOnlyRootFilesystem"):
            fail(f"{self.name}: root filesystem is not read-only; this test assumes it is")
        # Everything else stays root-owned: the pod's UID cannot write it, as on a read-only fs.
        env: dict[str, str] = {}
        # What each setting is, as the pod delivers it: a literal, or (for `X_CMD=cat <file>`)
        # the content of the secret file the command prints, so X is judged by its value.
        self.delivered: dict[str, str] = {}
        for e in self.container.get("env", []):
            name = e["name"]
            if "value" not in e:
                fail(f"{self.name}: {name} is not a literal (secrets arrive as files): {e}")
            value = e["value"]
            if name.endswith("_CMD"):
                words = value.split()
                if len(words) != 2 or words[0] != "cat" or words[1] not in self.secret_files:
                    fail(f"{self.name}: {name}={value!r} does not print a mounted secret file "
                         f"(mounted: {sorted(self.secret_files)})")
                # The command runs in the remapped root: the same file, where this test put it.
                env[name] = f"cat {self.remap(words[1])}"
                self.delivered[name.removesuffix("_CMD")] = sec.get(*self.secret_files[words[1]])
            else:
                env[name] = self.remap(value)
                self.delivered[name] = env[name]
        env.update(
            {
                "PATH": f"{venv}/bin:/usr/bin:/bin",
                "HOME": self.remap(IMAGE_HOME),
                # The pod's /tmp is an emptyDir: the same directory, remapped.
                "TMPDIR": self.remap("/tmp"),
                "HOSTNAME": f"{self.name}-0",
                # Trust the test CA the way the image trusts Amazon's: OpenSSL's default path.
                "SSL_CERT_FILE": args.ca,
                "LANG": "C.UTF-8",
            }
        )
        self.env = env

    def remap(self, value: str) -> str:
        return str(self.root / value.lstrip("/")) if value.startswith("/") else value

    def run(self, cmd: list[str], timeout: int = 120, extra: dict[str, str] | None = None, retry: bool = False) -> str:
        env = dict(self.env, **(extra or {}))
        p = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=timeout, preexec_fn=drop_privileges, cwd=self.remap("/tmp")
        )
        if p.returncode != 0 and retry:
            # Inside wait_for: not up yet is not a failure until the deadline.
            raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stdout[-500:]} {p.stderr[-500:]}")
        if p.returncode != 0:
            fail(f"{self.name}: {' '.join(cmd)} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
        return p.stdout.strip()

    def value(self, cmd: list[str]) -> str:
        """The last line a command prints: with OpenTelemetry metrics on (the scheduler's pod),
        every Airflow command first logs its exporter connection to stdout."""
        out = self.run(cmd).splitlines()
        return out[-1] if out else ""

    def start(self, extra: dict[str, str] | None = None) -> subprocess.Popen:
        cmd = ["airflow", *self.container.get("args", [])]
        log = open(self.root.parent / f"{self.name}.log", "w", encoding="utf-8")  # noqa: SIM115
        return subprocess.Popen(
            cmd, env=dict(self.env, **(extra or {})), stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=drop_privileges, cwd=self.remap("/tmp"), start_new_session=True,
        )

    def log_tail(self) -> str:
        return (self.root.parent / f"{self.name}.log").read_text(encoding="utf-8", errors="replace")[-4000:]

    def probe(self, kind: str, port_override: int | None = None) -> None:
        p = self.container[kind]
        timeout = p.get("timeoutSeconds", 1)
        if "exec" in p:
            started = time.monotonic()
            self.run(p["exec"]["command"], timeout=timeout, retry=True)
            ok(f"{self.name}: {kind} probe `{' '.join(p['exec']['command'])[:70]}` passes "
               f"in {time.monotonic() - started:.1f} s (timeout {timeout} s)")
        elif "httpGet" in p:
            port = port_override or p["httpGet"]["port"]
            url = f"http://127.0.0.1:{port}{p['httpGet']['path']}"
            with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (loopback)
                if r.status != 200:
                    fail(f"{self.name}: {kind} probe {url} answered {r.status}")
            ok(f"{self.name}: {kind} probe GET {p['httpGet']['path']} on :{p['httpGet']['port']} answers 200")
        elif "tcpSocket" in p:
            with socket.create_connection(("127.0.0.1", port_override or p["tcpSocket"]["port"]), timeout=timeout):
                pass
            ok(f"{self.name}: {kind} probe TCP :{p['tcpSocket']['port']} accepts")

    def writes_outside_volumes(self, since: float) -> list[str]:
        bad = []
        for dirpath, _, files in os.walk(self.root):
            rel = "/" + os.path.relpath(dirpath, self.root)
            if any(rel == w or rel.startswith(w.rstrip("/") + "/") for w in self.writable):
                continue
            for f in files:
                if os.stat(os.path.join(dirpath, f)).st_mtime >= since:
                    bad.append(os.path.join(rel, f))
        return bad


def drop_privileges() -> None:
    os.setgroups([])
    os.setgid(POD_UID)
    os.setuid(POD_UID)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def wait_for(what: str, check, procs: list[tuple[Role, subprocess.Popen]], deadline: float) -> None:
    while time.monotonic() < deadline:
        for r, p in procs:
            if p.poll() is not None:
                fail(f"{r.name} exited {p.returncode} while waiting for {what}:\n{r.log_tail()}")
        try:
            check()
            return
        except SystemExit:
            raise
        except Exception:  # noqa: BLE001 (not up yet)
            time.sleep(2)
    fail(f"timed out waiting for {what}:\n" + "\n".join(f"--- {r.name}\n{r.log_tail()}" for r, _ in procs))


def main() -> None:
    ap = argparse.ArgumentParser()
    for a in ("--manifests", "--work", "--venv", "--pg-url", "--redis-host", "--redis-token", "--ca"):
        ap.add_argument(a, required=True)
    ap.add_argument("--redis-port", required=True, type=int)
    args = ap.parse_args()
    work = Path(args.work)
    objs = load(args.manifests)
    sec = Secrets(objs, args)
    roles = {" ".join(template(o)["spec"]["containers"][0].get("args", [])): Role(o, work, args.venv, sec, args)
             for o in airflow_workloads(objs)}
    expected = {"webserver", "scheduler", "triggerer", "celery worker"}
    if set(roles) != expected:
        fail(f"rendered Airflow roles {sorted(roles)} are not {sorted(expected)}")
    since = time.time() - 1
    broker = sec.get("redis-cerverus-cache", "url")
    # The metadata DB URL as the pod gets it: templated by External Secrets from the rotated
    # credential's fields. It must name the local database and demand TLS, as RDS does.
    db_url = sec.get(sec.making("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    parts = urllib.parse.urlsplit(db_url)
    if (parts.hostname, parts.port, parts.path.lstrip("/")) != (
        sec.database["host"], int(sec.database["port"]), sec.database["dbname"]
    ) or "sslmode=require" not in parts.query:
        fail(f"the delivered metadata DB URL {db_url!r} is not the database's, over TLS")

    print("==> what each role's pod delivers, as Airflow resolves it")
    for label, r in roles.items():
        got = r.value(["airflow", "config", "get-value", "database", "sql_alchemy_conn"])
        if got != db_url:
            fail(f"{r.name}: sql_alchemy_conn resolves to {got!r}, the pod delivers {db_url!r}")
        if r.value(["airflow", "config", "get-value", "core", "executor"]) != "CeleryExecutor":
            fail(f"{r.name}: executor is not CeleryExecutor")
        msg = f"{r.name}: sql_alchemy_conn = the delivered URL, executor = CeleryExecutor"
        # Every AIRFLOW__SECTION__KEY the pod sets is what Airflow's configuration returns.
        keys = sorted(k for k in r.delivered if k.startswith("AIRFLOW__") and k.count("__") == 2)
        # As every Airflow command does before it reads configuration: the providers' options
        # (the Celery ones among them) are known, so their `_CMD` forms are honoured.
        script = ("import sys, json\nfrom airflow.configuration import conf\n"
                  "from airflow.providers_manager import ProvidersManager\n"
                  "ProvidersManager().initialize_providers_configuration()\n"
                  "print(json.dumps({k: conf.get(*k.split('__')[1:3]) for k in sys.argv[1:]}))")
        resolved = json.loads(r.run(["python", "-c", script, *keys]).splitlines()[-1])
        wrong = [k for k in keys if resolved[k] != r.delivered[k]]
        if wrong:
            fail(f"{r.name}: Airflow resolves {wrong} to something else than the pod delivers")
        msg += f", all {len(keys)} AIRFLOW__ settings as delivered"
        if label in ("scheduler", "celery worker"):
            got = r.value(["airflow", "config", "get-value", "celery", "broker_url"])
            if got != broker or not got.startswith("rediss://:") or "ssl_cert_reqs=required" not in got:
                fail(f"{r.name}: broker_url resolves to {got!r}, the pod delivers {broker!r}")
            # The result backend is not set: the Celery provider derives it from the metadata
            # DB URL. Ask the Celery app the worker and the `celery inspect ping` probe use,
            # imported bare as the probe's `celery --app …` does (no Airflow CLI around it).
            celery_conf = "from airflow.providers.celery.executors.celery_executor import app; c = app.conf; "
            got = r.run(["python", "-c", celery_conf + "print(c.result_backend); print(c.broker_url)"])
            if got.splitlines()[-2:] != ["db+" + db_url, broker]:
                fail(f"{r.name}: Celery's result_backend/broker_url are {got.splitlines()[-2:]!r}")
            msg += (", broker_url = the delivered rediss:// URL (TLS, AUTH), Celery's result_backend = "
                    "db+<metadata DB>")
        ok(msg)

    print("==> the rendered migration Job migrates; every role's init container waits for it")
    # Each role's init container: the contract's wait command, as rendered.
    waits: dict[str, list[str]] = {}
    for label, r in roles.items():
        inits = template(r.obj)["spec"].get("initContainers", [])
        cmd = next((i["command"] for i in inits if "check-migrations" in i.get("command", [])), None)
        if cmd is None:
            fail(f"{r.name}: no init container waits for the schema (db check-migrations)")
        waits[label] = cmd
    # Before the migration the wait must not pass (shortened from the rendered timeout).
    sched = roles["scheduler"]
    short = [("5" if prev == "--migration-wait-timeout" else w) for prev, w in zip(["", *waits["scheduler"]], waits["scheduler"])]
    try:
        sched.run(short, timeout=120, retry=True)
        fail(f"{sched.name}: `{' '.join(short)}` passed against an empty database")
    except RuntimeError:
        ok(f"{sched.name}: `{' '.join(short)}` waits and fails against an unmigrated database")
    jobs = [o for o in objs if o.get("kind") == "Job"
            and template(o)["spec"]["containers"][0]["image"].split("@")[0].rsplit(":", 1)[0].endswith("/cerverus/airflow")]
    if len(jobs) != 1:
        fail(f"expected one rendered Airflow migration Job, found {len(jobs)}")
    job = Role(jobs[0], work, args.venv, sec, args)
    hook = jobs[0]["metadata"].get("annotations", {})
    # A PreSync hook runs once per release, before the new pods (its prerequisites sync in an
    # earlier Application; crates/cli/tests/rollouts.rs proves that order).
    if hook.get("argocd.argoproj.io/hook") != "PreSync":
        fail(f"{job.name}: not an Argo CD PreSync hook: {hook}")
    job.run(job.container["command"], timeout=300)
    ok(f"{job.name}: `{' '.join(job.container['command'])}` against PostgreSQL, with the Job's rendered pod")
    for label, r in roles.items():
        r.run(waits[label], timeout=120)
    ok(f"every role's init container `{' '.join(waits['scheduler'])}` passes once migrated")

    print("==> each role runs and passes its rendered probes")
    web, sched, worker, trig = roles["webserver"], roles["scheduler"], roles["celery worker"], roles["triggerer"]
    # The rendered ports, unless this machine already uses them (then the same setting, moved).
    web_port = 8080 if port_free(8080) else free_port()
    sched_port = 8974 if port_free(8974) else free_port()
    log_port = 8793 if port_free(8793) else free_port()
    trig_log_port = 8794 if port_free(8794) else free_port()
    # The scheduler first: it syncs the DAG table the others read; starting all at once races it.
    procs = [(sched, sched.start({"AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(sched_port)}))]
    try:
        deadline = time.monotonic() + START_TIMEOUT
        wait_for("the scheduler's health server", lambda: sched.probe("startupProbe", sched_port), procs, deadline)
        sched.probe("livenessProbe", sched_port)
        sched.probe("readinessProbe", sched_port)
        procs += [
            (web, web.start({"AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(web_port), "AIRFLOW__WEBSERVER__WORKERS": "1"})),
            (worker, worker.start({"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_port)})),
            (trig, trig.start({"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(trig_log_port)})),
        ]
        wait_for("the webserver", lambda: web.probe("startupProbe", web_port), procs, deadline)
        web.probe("readinessProbe", web_port)
        web.probe("livenessProbe", web_port)
        wait_for("the worker's log server", lambda: worker.probe("readinessProbe", log_port), procs, deadline)
        wait_for("the idle worker's celery ping", lambda: worker.probe("livenessProbe"), procs, deadline)
        wait_for("the triggerer's heartbeat", lambda: trig.probe("livenessProbe"), procs, deadline)

        def trigger_log_server() -> None:
            with socket.create_connection(("127.0.0.1", trig_log_port), timeout=5):
                pass
            ok(f"{trig.name}: log server accepts on the rendered trigger-logs port (here :{trig_log_port})")

        wait_for("the triggerer's log server", trigger_log_server, procs, deadline)
    finally:
        for _, p in procs:
            try:
                os.killpg(p.pid, 15)
            except ProcessLookupError:
                pass
        for _, p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)

    print("==> KEDA's Redis trigger counts the queue the scheduler fills")
    # With the workers stopped, enqueue a task the way the CeleryExecutor does (the task's queue
    # is [operators] default_queue), then read the length of the list the rendered trigger names
    # in the database it names: KEDA's Redis scaler runs LLEN on exactly that.
    so = next((o for o in objs if o.get("kind") == "ScaledObject" and o["metadata"]["name"] == worker.name), None)
    trig = next((t for t in (so or {}).get("spec", {}).get("triggers", []) if t["type"] == "redis"), None)
    if trig is None:
        fail(f"{worker.name}: no rendered KEDA Redis trigger")
    enqueue = (
        "import sys, redis\n"
        "from airflow.configuration import conf\n"
        "from airflow.providers_manager import ProvidersManager\n"
        "ProvidersManager().initialize_providers_configuration()\n"
        "from airflow.providers.celery.executors.celery_executor import app\n"
        "from airflow.providers.celery.executors.celery_executor_utils import execute_command\n"
        "execute_command.apply_async(args=[['airflow', 'version']], queue=conf.get('operators', 'default_queue'))\n"
        "r = redis.Redis.from_url(app.conf.broker_url, db=int(sys.argv[2]))\n"
        "print(r.llen(sys.argv[1]))\n"
    )
    meta = trig["metadata"]
    got = sched.run(["python", "-c", enqueue, meta["listName"], meta.get("databaseIndex", "0")]).splitlines()[-1]
    if got != "1":
        fail(f"the queued task is not in Redis list {meta['listName']!r} (db {meta.get('databaseIndex', '0')}): LLEN = {got}")
    ok(f"a task the scheduler queues is 1 entry of list {meta['listName']!r} (db {meta.get('databaseIndex', '0')}), "
       f"the list the worker's KEDA trigger reads (target {meta['listLength']} per worker, TLS {meta['enableTLS']})")

    print("==> writes stay inside the pods' writable volumes")
    for r in roles.values():
        bad = r.writes_outside_volumes(since)
        if bad:
            fail(f"{r.name} wrote outside its writable volumes {r.writable}: {bad[:10]}")
        wrote = sorted({os.path.relpath(os.path.join(d, f), r.root) for w in r.writable
                        for d, _, fs in os.walk(r.root / w.lstrip("/")) for f in fs})
        ok(f"{r.name}: writes only under {', '.join(r.writable)} ({len(wrote)} files, e.g. "
           f"{', '.join('/' + w for w in wrote[:3])})")
    shutil.rmtree(work / "roots", ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    main()
