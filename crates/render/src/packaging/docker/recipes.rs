//! How each kind of image is built, as [`Dockerfile`] values: a Python service (slim Python or
//! CUDA base), the Airflow image, and the cerverus CLI. Every fact that differs between images
//! (ports, user, writable paths, entrypoint, health check, base) comes from [`Image`] and the
//! pins; what is written here is how to build, and why in that order.

use cerverus_model::{Platform, Workload};

use super::base::{BaseImages, Pin, PythonBase};
use super::dockerfile::{BaseRef, Command, Dockerfile, Healthcheck, Instruction as I, Mount, Stage, User};
use super::{APP_DIR, CERVERUS_IMAGE, Image, SCRATCH, VENV, health_command};

const SYNTAX: &str = "docker/dockerfile:1.7";
/// pip's cache in the builder (root's), kept between builds by a BuildKit cache mount.
const PIP_CACHE: &str = "/root/.cache/pip";
/// The hash-locked requirements every service repository keeps at its root.
const REQUIREMENTS: &str = "requirements.txt";
const WHEELS: &str = "/wheels";

fn from(pin: &Pin) -> BaseRef {
    BaseRef::Image { repository: pin.repository.clone(), tag: pin.tag.clone(), digest: pin.digest.clone() }
}

fn shell(lines: &[&str]) -> Command {
    Command::Shell(lines.iter().map(|s| s.to_string()).collect())
}

fn user(image: &Image) -> User {
    User::Numeric { uid: image.uid, gid: image.gid }
}

fn pip_cache() -> Mount {
    Mount::Cache { target: PIP_CACHE.into(), id: None, uid: None, sharing_locked: false }
}

/// `--cache-dir <target>`: pip is told where the cache mount is rather than left to find it
/// from `HOME` or a base image's `PIP_CACHE_DIR` (the Airflow image sets one elsewhere), which
/// would leave the mount unused and every rebuild downloading everything again.
fn cache_dir(target: &str) -> String {
    format!("--cache-dir {target}")
}

/// `VERSION`/`REVISION` build arguments (CI passes the release tag and commit) and the OCI
/// labels that carry them, the source repository and the base. They close the runtime stage:
/// every `RUN` after an `ARG` sees it in its environment, so a new commit would otherwise miss
/// the cache of every later `RUN` (apt installs, pip installs) and rebuild them.
fn labels(title: &str, description: &str, source: &str, version: &str, base: &Pin) -> Vec<I> {
    let base_name = match &base.tag {
        Some(t) => format!("{}:{t}", base.repository),
        None => base.repository.clone(),
    };
    vec![
        I::Arg { name: "VERSION".into(), default: Some(version.into()) },
        I::Arg { name: "REVISION".into(), default: Some("unknown".into()) },
        I::Label(vec![
            ("org.opencontainers.image.title".into(), title.into()),
            ("org.opencontainers.image.description".into(), description.into()),
            ("org.opencontainers.image.source".into(), source.into()),
            ("org.opencontainers.image.version".into(), "${VERSION}".into()),
            ("org.opencontainers.image.revision".into(), "${REVISION}".into()),
            ("org.opencontainers.image.base.name".into(), base_name),
            ("org.opencontainers.image.base.digest".into(), base.digest.clone()),
        ]),
    ]
}

/// The image's `HEALTHCHECK`, timed as the liveness probe of the workload it comes from: its
/// period, failure threshold and timeout, and the startup probe's budget as the start period.
fn healthcheck(image: &Image, ws: &[&Workload]) -> Vec<I> {
    let Some(command) = &image.health_command else {
        let why = if ws.iter().any(|w| health_command(w).is_some()) {
            "Roles of this image are checked differently: whoever picks the role (the pod's liveness probe, the compose service's healthcheck) sets the check."
        } else {
            "Run to completion (a Job, a CronJob): nothing polls it; its exit status is its health."
        };
        return vec![I::Comment(why.into()), I::Healthcheck(None)];
    };
    let Some((w, probe)) = ws.iter().find_map(|w| {
        let p = w.spec.probes.as_ref()?.liveness.as_ref()?;
        (health_command(w).as_ref() == Some(command)).then_some((w, p))
    }) else {
        return vec![I::Healthcheck(None)];
    };
    let startup =
        w.spec.probes.as_ref().and_then(|p| p.startup.as_ref()).map(|s| s.period_seconds * s.failure_threshold);
    let contract_startup = w
        .contract
        .and_then(|c| c.health.as_ref())
        .and_then(|h| h.startup.as_ref())
        .map(|s| s.period_seconds * s.failure_threshold);
    vec![
        I::Comment(format!("The liveness probe of `{}`, for compose and `docker run`.", w.name())),
        I::Healthcheck(Some(Healthcheck {
            interval_seconds: probe.period_seconds,
            timeout_seconds: super::probe_timeout(w, probe),
            start_period_seconds: startup.or(contract_startup).unwrap_or(0),
            retries: probe.failure_threshold,
            command: command.clone(),
        })),
    ]
}

fn expose(image: &Image) -> Vec<I> {
    if image.ports.is_empty() { Vec::new() } else { vec![I::Expose(image.ports.clone())] }
}

/// Directories the program writes besides `/tmp` (world-writable in every base), created owned
/// by the runtime user: a mounted emptyDir or volume takes their place in a pod; under
/// `docker run` without one they are still writable.
fn writable_dirs(image: &Image) -> Vec<String> {
    image.writable_paths.iter().filter(|p| p.as_str() != SCRATCH).cloned().collect()
}

fn apt_install(packages: &[String]) -> Vec<I> {
    if packages.is_empty() {
        return Vec::new();
    }
    let install =
        format!("DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {}", packages.join(" "));
    vec![
        I::LintIgnore {
            rules: vec!["DL3008".into()],
            reason: "apt versions unpinned: Debian's and Ubuntu's archives drop a superseded build at each security update, so a pin breaks the build; the base digest fixes the release".into(),
        },
        I::Run { mounts: vec![], command: shell(&["apt-get update", &install, "rm -rf /var/lib/apt/lists/*"]) },
    ]
}

/// A Python service: a builder that installs the hash-locked dependencies into a virtualenv in
/// one pip run, compiling a wheel for any published only as an sdist (pip's cache mounted, so a
/// rebuild downloads and compiles nothing new), then the service; a runtime of the same base that gets the virtualenv and the source tree, runs as
/// the pods' user under `dumb-init`, and checks itself as the liveness probe does. The
/// dependency layer comes before the source, so a code change rebuilds only the last layers.
pub fn python_service(
    platform: &Platform,
    bases: &BaseImages,
    py: &PythonBase,
    image: &Image,
    ws: &[&Workload],
) -> Dockerfile {
    let version = ws.first().map(|w| w.spec.image.tag.clone()).unwrap_or_default();
    let components: Vec<&str> = ws.iter().map(|w| w.spec.component.as_str()).collect();
    let repo = format!("https://github.com/{}/{}", platform.organization, image.name);
    let python = py.interpreter.as_str();
    let venv_pip = format!("{VENV}/bin/pip");
    let init = format!("{}=={}", bases.init.package, bases.init.version);
    let mut builder = vec![I::Env(vec![
        ("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into()),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
    ])];
    builder.extend(apt_install(&py.builder_packages));
    builder.extend([
        I::Workdir("/src".into()),
        I::Run { mounts: vec![], command: Command::Exec(vec![python.into(), "-m".into(), "venv".into(), VENV.into()]) },
        I::Comment("Dependencies first: this layer is reused until the lock file changes.".into()),
        I::Comment("One install, not `pip wheel` then an install from the wheels: a wheel built here from an sdist does not have the lock file's hash, which --require-hashes would reject.".into()),
        I::Copy { from: None, chown: None, link: true, sources: vec![REQUIREMENTS.into()], dest: "./".into() },
        I::Run {
            mounts: vec![pip_cache()],
            command: Command::Shell(vec![
                format!("{venv_pip} install {} --require-hashes -r {REQUIREMENTS}", cache_dir(PIP_CACHE)),
                format!("{venv_pip} install {} {init}", cache_dir(PIP_CACHE)),
            ]),
        },
        I::Comment("Then the service itself, without touching its dependencies.".into()),
        I::Copy { from: None, chown: None, link: true, sources: vec![".".into()], dest: "./".into() },
        I::Run {
            mounts: vec![pip_cache()],
            command: shell(&[&format!("{venv_pip} install {} --no-deps .", cache_dir(PIP_CACHE))]),
        },
    ]);
    let mut runtime = apt_install(&py.runtime_packages);
    runtime.extend([
        I::Comment(format!(
            "HOME: the pods' UID has no passwd entry (the runtime would make it `/`, read-only); {SCRATCH} is writable in every pod."
        )),
        I::Env(vec![
            ("PATH".into(), format!("{VENV}/bin:$PATH")),
            ("HOME".into(), SCRATCH.into()),
            ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
            ("PYTHONUNBUFFERED".into(), "1".into()),
        ]),
        I::Workdir(APP_DIR.into()),
        I::Comment("The virtualenv, then the source tree (read-only to the runtime user: root owns it).".into()),
        I::Copy {
            from: Some("builder".into()),
            chown: None,
            link: true,
            sources: vec![VENV.into()],
            dest: VENV.into(),
        },
        I::Copy {
            from: Some("builder".into()),
            chown: None,
            link: true,
            sources: vec!["/src/".into()],
            dest: format!("{APP_DIR}/"),
        },
    ]);
    let dirs = writable_dirs(image);
    if !dirs.is_empty() {
        runtime.push(I::Run {
            mounts: vec![],
            command: Command::Shell(vec![format!(
                "install -d -o {} -g {} -m 0750 {}",
                image.uid,
                image.gid,
                dirs.join(" ")
            )]),
        });
    }
    runtime.push(I::Comment(format!("The pods' UID and GID ({}): numeric, so no passwd entry is needed.", image.uid)));
    runtime.push(I::User(user(image)));
    runtime.extend(expose(image));
    runtime.extend(healthcheck(image, ws));
    runtime.extend(labels(
        &image.name,
        &format!("Cerverus {} ({})", image.name, components.join(", ")),
        &repo,
        &version,
        &py.pin,
    ));
    runtime.push(I::Comment("dumb-init as PID 1 forwards SIGTERM to the service and reaps orphans.".into()));
    runtime.push(I::Entrypoint(image.entrypoint.clone()));
    let base = if image.gpu { "CUDA runtime (GPU workloads)" } else { "slim Python" };
    Dockerfile {
        syntax: SYNTAX.into(),
        header: vec![
            format!("{} — run by {}.", image.repository, image.workloads.join(", ")),
            format!(
                "Generated by `cerverus build` from platform/cerverus.yaml; {base} base pinned in data/base-images.json."
            ),
            String::new(),
            format!("Build from a checkout of the service repository ({repo}), which holds the hash-locked"),
            format!(
                "{REQUIREMENTS} and the package `{}` (run as `python -m {}`):",
                super::module_name(&image.name),
                super::module_name(&image.name)
            ),
            format!("  DOCKER_BUILDKIT=1 docker build -f <bundle>/docker/{}/Dockerfile \\", image.name),
            format!(
                "    --build-arg VERSION={version} --build-arg REVISION=$(git rev-parse HEAD) -t {}:{version} .",
                image.repository
            ),
            "(copy .dockerignore next to it into the service repository's root).".into(),
        ],
        stages: vec![
            Stage {
                comment: vec!["Builder: the virtualenv, with a C toolchain for sdists.".into()],
                from: from(&py.pin),
                name: Some("builder".into()),
                instructions: builder,
            },
            Stage {
                comment: vec!["Runtime.".into()],
                from: from(&py.pin),
                name: Some("runtime".into()),
                instructions: runtime,
            },
        ],
    }
}

/// Plain `COPY`, never `--link`, into the upstream image's directories: a linked copy's layer
/// carries its destination's parent directories as root-owned 0755 and they replace the base's
/// (`/opt/airflow` is the build user's, group-writable), so the build user could no longer write
/// its wheels there (BuildKit's documented `--link` caveat, moby/buildkit#3602).
const AIRFLOW_COPY_LINK: bool = false;

/// The Airflow image: the upstream image pinned by digest, plus the service repository's extra
/// requirements built as wheels under Airflow's constraints in a builder stage and installed
/// from them without a network (Airflow itself pinned, so nothing upgrades it), its DAGs and
/// plugins where the runtime contract's folders are, the writable directories the contract
/// names owned by the pods' user, and `airflow` as the entrypoint (the pods pick the role).
pub fn airflow(platform: &Platform, bases: &BaseImages, image: &Image, ws: &[&Workload]) -> Dockerfile {
    let a = &bases.airflow;
    let version = ws.first().map(|w| w.spec.image.tag.clone()).unwrap_or_default();
    let repo = format!("https://github.com/{}/{}", platform.organization, image.name);
    let airflow_pin = format!("apache-airflow=={}", a.version);
    let roles: Vec<String> = ws.iter().map(|w| format!("{} ({})", w.name(), w.spec.args.join(" "))).collect();
    let builder_cache_dir = format!("{}/.cache/pip", a.home);
    let builder_cache =
        Mount::Cache { target: builder_cache_dir.clone(), id: None, uid: Some(a.build_uid), sharing_locked: false };
    let build_user = User::Numeric { uid: a.build_uid, gid: a.build_gid };
    let builder = vec![
        I::User(build_user.clone()),
        I::Copy {
            from: None,
            chown: None,
            link: AIRFLOW_COPY_LINK,
            sources: vec![REQUIREMENTS.into()],
            dest: format!("/opt/airflow/{REQUIREMENTS}"),
        },
        I::Run {
            mounts: vec![builder_cache],
            command: Command::Shell(vec![format!(
                "pip wheel {} --wheel-dir /opt/airflow/wheels --constraint {} \"{airflow_pin}\" -r /opt/airflow/{REQUIREMENTS}",
                cache_dir(&builder_cache_dir),
                a.constraints
            )]),
        },
    ];
    let mut runtime = vec![
        I::Comment("Installed as the image's build user (into its ~/.local), from the builder's wheels only.".into()),
        I::User(build_user),
        I::Copy {
            from: None,
            chown: None,
            link: AIRFLOW_COPY_LINK,
            sources: vec![REQUIREMENTS.into()],
            dest: format!("/opt/airflow/{REQUIREMENTS}"),
        },
        I::Run {
            mounts: vec![Mount::Bind {
                from: "builder".into(),
                source: "/opt/airflow/wheels".into(),
                target: WHEELS.into(),
            }],
            command: Command::Shell(vec![format!(
                "pip install --no-cache-dir --no-index --find-links {WHEELS} \"{airflow_pin}\" -r /opt/airflow/{REQUIREMENTS}"
            )]),
        },
        I::Comment(format!(
            "The pods run as UID {} with no passwd entry, so HOME would be `/`: HOME is the build user's (read-only, as the runtime contract's proof runs it); PYTHONUSERBASE names the packages' prefix should the base install them as a user site rather than as the virtualenv on PATH.",
            image.uid
        )),
        I::Env(vec![
            ("HOME".into(), a.home.clone()),
            ("PYTHONUSERBASE".into(), a.user_base.clone()),
            ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ]),
    ];
    for c in &a.copies {
        runtime.push(I::Copy {
            from: None,
            chown: None,
            link: AIRFLOW_COPY_LINK,
            sources: vec![c.from.clone()],
            dest: c.to.clone(),
        });
    }
    runtime.push(I::User(User::Numeric { uid: 0, gid: 0 }));
    let dirs = writable_dirs(image);
    if !dirs.is_empty() {
        runtime.push(I::Comment("What the runtime contract says Airflow writes, owned by the pods' user.".into()));
        runtime.push(I::Run {
            mounts: vec![],
            command: Command::Shell(vec![format!(
                "install -d -o {} -g {} -m 0750 {}",
                image.uid,
                image.gid,
                dirs.join(" ")
            )]),
        });
    }
    runtime.push(I::User(user(image)));
    runtime.extend(expose(image));
    runtime.extend(healthcheck(image, ws));
    runtime.extend(labels(&image.name, &format!("Cerverus Airflow: {}", roles.join(", ")), &repo, &version, &a.pin));
    runtime.push(I::Comment(format!(
        "The base's dumb-init, then `{}` directly: the pods' args pick the role (the runtime contract's).",
        a.program
    )));
    runtime.push(I::Entrypoint(image.entrypoint.clone()));
    Dockerfile {
        syntax: SYNTAX.into(),
        header: vec![
            format!("{} — run by {}.", image.repository, roles.join(", ")),
            "Generated by `cerverus build` from platform/cerverus.yaml and data/runtime-contracts.json; base pinned"
                .into(),
            "in data/base-images.json.".into(),
            String::new(),
            format!(
                "Build from a checkout of the DAG repository ({repo}): {REQUIREMENTS} (extra providers), dags/, plugins/:"
            ),
            format!("  DOCKER_BUILDKIT=1 docker build -f <bundle>/docker/{}/Dockerfile \\", image.name),
            format!(
                "    --build-arg VERSION={version} --build-arg REVISION=$(git rev-parse HEAD) -t {}:{version} .",
                image.repository
            ),
        ],
        stages: vec![
            Stage {
                comment: vec![
                    "Builder: wheels of the extra requirements, resolved under Airflow's constraints.".into(),
                ],
                from: from(&a.pin),
                name: Some("builder".into()),
                instructions: builder,
            },
            Stage {
                comment: vec!["Runtime.".into()],
                from: from(&a.pin),
                name: Some("runtime".into()),
                instructions: runtime,
            },
        ],
    }
}

/// Where the planner stage puts the workspace's skeleton: its manifests, the lock file, and an
/// empty stand-in for every target root cargo needs to load the workspace.
const SKELETON: &str = "/skeleton";

/// This project's own image. The dependencies are compiled in a layer of their own, keyed only
/// by the workspace's manifests and lock file (cargo-chef's recipe, done with `find`): a planner
/// stage reduces the workspace to a skeleton whose crates are empty stand-ins, the builder
/// compiles the skeleton (every dependency, none of ours), then copies the real sources over it
/// and builds again, which compiles only the workspace's own crates. A source change reuses the
/// dependency layer from any layer cache (CI's `type=gha` included, which keeps no cache
/// mounts); cargo's registry is a cache mount where the builder keeps one. The binary runs alone
/// on distroless `cc` (glibc, libgcc, CA certificates; the lock file has no OpenSSL), as the
/// non-root platform UID.
pub fn cerverus(bases: &BaseImages) -> Dockerfile {
    let registry =
        || Mount::Cache { target: "/usr/local/cargo/registry".into(), id: None, uid: None, sharing_locked: true };
    let bin = format!("/usr/local/bin/{CERVERUS_IMAGE}");
    let repo = crate::gitops::REPO_URL.trim_end_matches(".git");
    let build = format!("cargo build --release --locked --bin {CERVERUS_IMAGE}");
    let planner = vec![
        I::Workdir("/src".into()),
        I::Copy {
            from: None,
            chown: None,
            link: true,
            sources: vec!["Cargo.toml".into(), "Cargo.lock".into()],
            dest: "./".into(),
        },
        I::Copy { from: None, chown: None, link: true, sources: vec!["crates".into()], dest: "./crates".into() },
        I::Comment(
            "Manifests as they are; library roots empty, binary, bench and build-script roots an empty main.".into(),
        ),
        I::Run {
            mounts: vec![],
            command: Command::Shell(vec![
                format!("mkdir -p {SKELETON}"),
                format!("cp Cargo.toml Cargo.lock {SKELETON}/"),
                format!("find crates -name Cargo.toml -exec cp --parents -t {SKELETON} {{}} +"),
                "printf 'fn main() {}\\n' > /tmp/main.rs".into(),
                ": > /tmp/lib.rs".into(),
                format!("find crates -path '*/src/lib.rs' -exec install -D -m 0644 /tmp/lib.rs {SKELETON}/{{}} \\;"),
                format!(
                    "find crates \\( -path '*/src/main.rs' -o -path '*/src/bin/*.rs' -o -path '*/benches/*.rs' -o -path '*/build.rs' \\) -exec install -D -m 0644 /tmp/main.rs {SKELETON}/{{}} \\;"
                ),
            ]),
        },
    ];
    let builder = vec![
        I::Workdir("/src".into()),
        I::Comment("Dependencies first: this layer is reused until a manifest or the lock file changes.".into()),
        I::Copy {
            from: Some("planner".into()),
            chown: None,
            link: true,
            sources: vec![format!("{SKELETON}/")],
            dest: "./".into(),
        },
        I::Run { mounts: vec![registry()], command: Command::Shell(vec![build.clone()]) },
        I::Comment("Then the workspace and what it embeds at compile time (data/, platform/).".into()),
        I::Copy {
            from: None,
            chown: None,
            link: true,
            sources: vec!["Cargo.toml".into(), "Cargo.lock".into()],
            dest: "./".into(),
        },
        I::Copy { from: None, chown: None, link: true, sources: vec!["crates".into()], dest: "./crates".into() },
        I::Copy { from: None, chown: None, link: true, sources: vec!["data".into()], dest: "./data".into() },
        I::Copy { from: None, chown: None, link: true, sources: vec!["platform".into()], dest: "./platform".into() },
        I::Comment(
            "The sources may be older than the stand-ins' build: touched, so cargo rebuilds every crate of ours."
                .into(),
        ),
        I::Run {
            mounts: vec![registry()],
            command: Command::Shell(vec![
                "find crates -name '*.rs' -exec touch {} +".into(),
                build,
                format!("install -D -m 0755 target/release/{CERVERUS_IMAGE} /out/{CERVERUS_IMAGE}"),
            ]),
        },
    ];
    let uid = cerverus_model::APP_UID;
    let mut runtime = vec![
        I::Copy {
            from: Some("builder".into()),
            chown: None,
            link: true,
            sources: vec![format!("/out/{CERVERUS_IMAGE}")],
            dest: bin.clone(),
        },
        I::User(User::Numeric { uid, gid: uid }),
        I::Comment(format!(
            "UID {uid} has no passwd entry here: HOME would be `/`; distroless keeps a world-writable {SCRATCH}."
        )),
        I::Env(vec![("HOME".into(), SCRATCH.into())]),
        I::Workdir("/work".into()),
        I::Comment("A command-line tool, not a server: nothing to poll.".into()),
        I::Healthcheck(None),
    ];
    runtime.extend(labels(
        CERVERUS_IMAGE,
        "The cerverus CLI: builds and checks the platform bundle",
        repo,
        env!("CARGO_PKG_VERSION"),
        &bases.rust_runtime,
    ));
    runtime.extend([I::Entrypoint(vec![bin]), I::Cmd(vec!["--help".into()])]);
    Dockerfile {
        syntax: SYNTAX.into(),
        header: vec![
            "The cerverus CLI. Generated by `cerverus build`; bases pinned in data/base-images.json.".into(),
            String::new(),
            "Build from this repository's root (the context is filtered by Dockerfile.dockerignore next to this file):"
                .into(),
            "  DOCKER_BUILDKIT=1 docker build -f deploy/docker/cerverus/Dockerfile \\".into(),
            format!(
                "    --build-arg VERSION={} --build-arg REVISION=$(git rev-parse HEAD) -t cerverus .",
                env!("CARGO_PKG_VERSION")
            ),
            "Run as your own user, so the image's UID need not own the checkout it writes to:".into(),
            "  docker run --rm --user \"$(id -u):$(id -g)\" -v \"$PWD:/work\" cerverus build --out /work/deploy".into(),
        ],
        stages: vec![
            Stage {
                comment: vec!["Planner: the workspace reduced to what decides its dependencies.".into()],
                from: from(&bases.rust_builder),
                name: Some("planner".into()),
                instructions: planner,
            },
            Stage {
                comment: vec!["Builder: the dependencies, then the workspace.".into()],
                from: from(&bases.rust_builder),
                name: Some("builder".into()),
                instructions: builder,
            },
            Stage {
                comment: vec!["Runtime.".into()],
                from: from(&bases.rust_runtime),
                name: Some("runtime".into()),
                instructions: runtime,
            },
        ],
    }
}

/// What a service repository's build context leaves out: VCS data, local environments and
/// caches, tests and docs (not in the image), and anything that may hold a credential.
pub fn service_dockerignore() -> String {
    lines(&[
        "# Generated by `cerverus build`. Kept out of the build context: history, local state, tests,",
        "# and anything that may hold a credential (it would end up in a layer).",
        ".git",
        ".github",
        ".venv",
        "venv",
        "**/__pycache__",
        "**/*.py[cod]",
        ".pytest_cache",
        ".mypy_cache",
        ".coverage",
        "htmlcov",
        "tests",
        "docs",
        ".env",
        ".env.*",
        "**/*.pem",
        "**/*.key",
        "Dockerfile",
        ".dockerignore",
    ])
}

/// This repository's context for its own image: only the workspace and what it embeds.
pub fn cerverus_dockerignore() -> String {
    lines(&[
        "# Generated by `cerverus build`. The cerverus image is built from the repository root;",
        "# everything but the workspace and what it embeds stays out of the context.",
        "*",
        "!Cargo.toml",
        "!Cargo.lock",
        "!crates/",
        "!data/",
        "!platform/",
        "**/target",
    ])
}

fn lines(ls: &[&str]) -> String {
    let mut s = ls.join("\n");
    s.push('\n');
    s
}
