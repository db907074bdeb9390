//! The container images (`docker/`): every Dockerfile that builds has a builder and a runtime
//! stage, bases pinned by digest, a numeric non-root `USER`, and no secret-like `ENV`/`ARG`; and
//! each image agrees with the Kubernetes objects that run it, read back from the bundle: the
//! pods' `runAsUser`/`runAsGroup` are its `USER`, every `containerPort` is exposed, the writable
//! mounts of the read-only root filesystem are exactly its writable paths, its `HEALTHCHECK` hits
//! the liveness probe, and `ENTRYPOINT` + the pods' args (or the pod's own command) are what the
//! spec and the runtime contracts run. `dockerfile_disagreements` and `pod_disagreements` are the
//! checks; each is also run on broken copies, where it must report the break.

use std::collections::BTreeSet;

use cerverus_bundle::Bundle;
use cerverus_model::{APP_UID, Platform};
use cerverus_render::packaging::docker::dockerfile::{BaseRef, Dockerfile, Instruction, User};
use cerverus_render::packaging::docker::{
    CERVERUS_IMAGE, Image, dockerfile_disagreements, dockerfiles, images, pod_disagreements, secret_like,
};
use serde_json::{Value, json};

fn bundle() -> (Platform, Bundle) {
    cerverus::build_default().expect("default spec builds")
}

fn text(b: &Bundle, path: &str) -> String {
    String::from_utf8(b.get(path).unwrap_or_else(|| panic!("{path} in the bundle")).to_vec()).expect("utf8")
}

/// The rendered objects of one environment, as plain data.
fn objects(b: &Bundle, env: &str) -> Vec<Value> {
    b.iter()
        .filter(|(p, _)| p.starts_with(&format!("kubernetes/{env}/")) && p.ends_with(".yaml"))
        .map(|(p, bytes)| {
            let text = std::str::from_utf8(bytes).expect("utf8");
            serde_saphyr::from_str::<Value>(text).unwrap_or_else(|e| panic!("{p}: {e}"))
        })
        .collect()
}

fn envs(p: &Platform) -> Vec<String> {
    p.environments.iter().map(|e| e.name.clone()).collect()
}

fn image<'a>(images: &'a [Image], name: &str) -> &'a Image {
    images.iter().find(|i| i.name == name).unwrap_or_else(|| panic!("image {name}"))
}

#[test]
fn one_image_per_repository_with_the_workloads_that_run_it() {
    let (p, _) = bundle();
    let imgs = images(&p);
    let repos: BTreeSet<&str> =
        p.environments.iter().flat_map(|e| e.workloads.iter().map(|w| w.spec.image.repository.as_str())).collect();
    assert_eq!(imgs.iter().map(|i| i.repository.as_str()).collect::<BTreeSet<_>>(), repos);
    // The migration Job runs the API's image; the four Airflow roles share one image.
    assert_eq!(image(&imgs, "alerts-api").workloads, ["alerts-api", "db-migrate"]);
    assert_eq!(
        image(&imgs, "airflow").workloads,
        ["airflow-scheduler", "airflow-triggerer", "airflow-webserver", "airflow-worker"]
    );
    // GPU workloads (resources.gpu) get the CUDA variant; the others do not.
    for i in &imgs {
        let gpu = p
            .environments
            .iter()
            .flat_map(|e| &e.workloads)
            .any(|w| w.spec.image.repository == i.repository && w.spec.resources.gpu > 0);
        assert_eq!(i.gpu, gpu, "{}", i.name);
    }
    assert!(image(&imgs, "inference-service").gpu && image(&imgs, "model-training").gpu);
}

#[test]
fn every_image_file_is_in_the_bundle_as_printed() {
    let (p, b) = bundle();
    let files = dockerfiles(&p).expect("dockerfiles");
    for (dir, file) in &files {
        assert_eq!(text(&b, &format!("docker/{dir}/Dockerfile")), file.print(), "{dir}");
        let ignore = if dir == CERVERUS_IMAGE { "Dockerfile.dockerignore" } else { ".dockerignore" };
        assert!(b.get(&format!("docker/{dir}/{ignore}")).is_some(), "{dir}/{ignore}");
    }
    let dirs: BTreeSet<&str> = files.iter().map(|(d, _)| d.as_str()).collect();
    let imgs = images(&p);
    let want: BTreeSet<&str> = imgs.iter().map(|i| i.name.as_str()).chain([CERVERUS_IMAGE]).collect();
    assert_eq!(dirs, want);
    // The cerverus image is built from the repository root: its ignore file sits next to its
    // Dockerfile (BuildKit's `<Dockerfile>.dockerignore`) and lets in only the workspace.
    let ignore = text(&b, "docker/cerverus/Dockerfile.dockerignore");
    assert!(ignore.lines().any(|l| l == "*") && ignore.lines().any(|l| l == "!crates/"), "{ignore}");
    assert!(!ignore.lines().any(|l| l == "!deploy/"), "{ignore}");
}

#[test]
fn every_dockerfile_keeps_the_rules_and_its_image_facts() {
    let (p, b) = bundle();
    let imgs = images(&p);
    for (dir, file) in dockerfiles(&p).expect("dockerfiles") {
        if dir == CERVERUS_IMAGE {
            continue;
        }
        let problems = dockerfile_disagreements(image(&imgs, &dir), &file);
        assert!(problems.is_empty(), "{dir}: {problems:#?}");
    }
    // The same rules, read off the printed text (what hadolint and docker see).
    for (path, bytes) in b.iter().filter(|(p, _)| p.starts_with("docker/") && p.ends_with("/Dockerfile")) {
        let t = std::str::from_utf8(bytes).expect("utf8");
        let froms: Vec<&str> = t.lines().filter(|l| l.starts_with("FROM ")).collect();
        assert!(froms.len() >= 2, "{path}: {froms:?}");
        for f in &froms {
            let image = f.split_whitespace().nth(1).unwrap_or_default();
            let digest = image.split_once("@sha256:").map(|(_, d)| d).unwrap_or_default();
            assert!(digest.len() == 64 && digest.bytes().all(|c| c.is_ascii_hexdigit()), "{path}: {f}");
            assert!(!image.contains(":latest"), "{path}: {f}");
        }
        let last_user = t.lines().rfind(|l| l.starts_with("USER ")).expect("a USER");
        assert_eq!(last_user, format!("USER {APP_UID}:{APP_UID}"), "{path}");
        for l in t.lines().filter(|l| l.starts_with("ENV ") || l.starts_with("ARG ") || l.starts_with("    ")) {
            let name = l.trim_start_matches("ENV ").trim_start_matches("ARG ").trim().split('=').next().unwrap_or("");
            if !name.contains('.') && !name.contains(' ') {
                assert!(!secret_like(name), "{path}: {l}");
            }
        }
    }
}

/// Where the cerverus image's builder stops caching its dependencies by layer: it must compile
/// (`cargo build`) from the planner's skeleton before any workspace source is copied in, and
/// touch the sources before the build that follows them (the stand-ins' build is newer than a
/// checkout's files, and cargo would keep the empty crates).
fn dependency_layer_problems(file: &Dockerfile) -> Vec<String> {
    let mut out = Vec::new();
    let Some(builder) = file.stages.iter().find(|s| s.name.as_deref() == Some("builder")) else {
        return vec!["no builder stage".into()];
    };
    let runs: Vec<(usize, &Vec<String>)> = builder
        .instructions
        .iter()
        .enumerate()
        .filter_map(|(n, i)| match i {
            Instruction::Run {
                command: cerverus_render::packaging::docker::dockerfile::Command::Shell(ls), ..
            } if ls.iter().any(|l| l.starts_with("cargo build")) => Some((n, ls)),
            _ => None,
        })
        .collect();
    let skeleton = builder
        .instructions
        .iter()
        .position(|i| matches!(i, Instruction::Copy { from: Some(f), .. } if f == "planner"));
    let sources = builder.instructions.iter().position(
        |i| matches!(i, Instruction::Copy { from: None, sources, .. } if sources.iter().any(|s| s == "crates")),
    );
    match (skeleton, runs.first(), sources) {
        (Some(k), Some((first, _)), Some(src)) if k < *first && *first < src => {}
        other => out.push(format!("no dependency build between the skeleton and the sources: {other:?}")),
    }
    match runs.last() {
        Some((last, ls)) if Some(*last) > sources && ls.first().is_some_and(|l| l.contains("touch")) => {}
        other => out.push(format!("the build after the sources does not touch them first: {other:?}")),
    }
    out
}

#[test]
fn the_cerverus_image_builds_with_cached_dependencies_and_runs_the_binary_unprivileged() {
    let (p, _) = bundle();
    let files = dockerfiles(&p).expect("dockerfiles");
    let (_, file) = files.iter().find(|(d, _)| d == CERVERUS_IMAGE).expect("cerverus image");
    assert!(dockerfile_rules(file).is_empty(), "{:?}", dockerfile_rules(file));
    let layer = dependency_layer_problems(file);
    assert!(layer.is_empty(), "{layer:#?}");
    // The planner keeps only what decides the dependencies: the manifests and the lock file,
    // with every target root cargo needs as a stand-in.
    let printed = file.print();
    let planner = printed.split("AS builder").next().unwrap_or_default();
    for want in
        ["-name Cargo.toml", "cp Cargo.toml Cargo.lock /skeleton/", "'*/src/lib.rs'", "'*/src/main.rs'", "'*/build.rs'"]
    {
        assert!(planner.contains(want), "planner: {want}");
    }
    assert!(printed.contains("--mount=type=cache,target=/usr/local/cargo/registry"), "cargo's registry is cached");
    let runtime = file.runtime().expect("runtime");
    assert_eq!(runtime.entrypoint(), Some(&["/usr/local/bin/cerverus".to_string()][..]));
    assert!(matches!(&runtime.from, BaseRef::Image { repository, .. } if repository.contains("distroless")));
    assert!(printed.contains("docker build -f deploy/docker/cerverus/Dockerfile"), "build command documented");
    assert!(printed.contains("--user \"$(id -u):$(id -g)\""), "run as the caller, who owns the checkout");
    // A builder that copies the sources before compiling, or builds them without touching
    // them, is reported.
    let mut late = file.clone();
    if let Some(b) = late.stages.iter_mut().find(|s| s.name.as_deref() == Some("builder")) {
        let first = b.instructions.iter().position(|i| matches!(i, Instruction::Run { .. })).expect("a RUN");
        b.instructions.remove(first);
    }
    rejects(&dependency_layer_problems(&late), "no dependency build between the skeleton and the sources");
    let mut untouched = file.clone();
    for s in &mut untouched.stages {
        for i in &mut s.instructions {
            if let Instruction::Run {
                command: cerverus_render::packaging::docker::dockerfile::Command::Shell(ls),
                ..
            } = i
            {
                ls.retain(|l| !l.contains("touch"));
            }
        }
    }
    rejects(&dependency_layer_problems(&untouched), "does not touch them first");
}

/// The rules of [`dockerfile_disagreements`] that need no image facts (the cerverus image has
/// none: no pod runs it).
fn dockerfile_rules(file: &Dockerfile) -> Vec<String> {
    let facts = Image {
        name: CERVERUS_IMAGE.into(),
        repository: CERVERUS_IMAGE.into(),
        workloads: vec![],
        uid: APP_UID,
        gid: APP_UID,
        entrypoint: file.runtime().and_then(|r| r.entrypoint()).unwrap_or_default().to_vec(),
        cmd: vec![],
        ports: vec![],
        writable_paths: vec![],
        health_command: None,
        gpu: false,
    };
    dockerfile_disagreements(&facts, file)
}

#[test]
fn python_services_put_dependencies_before_source_and_install_them_hash_checked_in_a_builder() {
    let (p, _) = bundle();
    for (dir, file) in dockerfiles(&p).expect("dockerfiles") {
        if dir == CERVERUS_IMAGE || dir == "airflow" {
            continue;
        }
        let printed = file.print();
        let builder = printed.split("AS runtime").next().unwrap_or_default();
        let lock = builder.find("COPY --link requirements.txt").expect("lock copied");
        let wheels = builder.find("--require-hashes -r requirements.txt").expect("locked dependencies installed");
        // A wheel compiled in the builder from an sdist has no hash in the lock file: installing
        // the lock file from such wheels with --require-hashes fails, so nothing installs from a
        // wheel directory under hash checking.
        assert!(!builder.contains("--find-links"), "{dir}: hash-checked install from locally built wheels");
        let source = builder.find("COPY --link . ./").expect("source copied");
        assert!(lock < wheels && wheels < source, "{dir}: dependency layer before the source");
        assert!(builder.contains("--mount=type=cache,target=/root/.cache/pip"), "{dir}");
        let runtime = printed.split("AS runtime").nth(1).unwrap_or_default();
        assert!(!runtime.contains("pip ") && runtime.contains("PYTHONDONTWRITEBYTECODE"), "{dir}");
    }
}

/// Where a Dockerfile's pip commands that may download miss the cache mount of their `RUN`: each
/// must name a mounted cache as `--cache-dir` (a base's `PIP_CACHE_DIR` or a `HOME` elsewhere
/// would leave the mount unused), and a cache mount must serve some pip command.
fn pip_cache_misses(file: &Dockerfile) -> Vec<String> {
    use cerverus_render::packaging::docker::dockerfile::{Command, Mount};
    let mut out = Vec::new();
    for stage in &file.stages {
        for i in &stage.instructions {
            let Instruction::Run { mounts, command: Command::Shell(lines) } = i else { continue };
            let caches: Vec<&str> = mounts
                .iter()
                .filter_map(|m| match m {
                    Mount::Cache { target, .. } if target.ends_with("/pip") => Some(target.as_str()),
                    _ => None,
                })
                .collect();
            let downloading: Vec<&String> = lines
                .iter()
                .filter(|l| (l.contains("pip wheel") || l.contains("pip install")) && !l.contains("--no-index"))
                .collect();
            for l in &downloading {
                if !caches.iter().any(|c| l.contains(&format!("--cache-dir {c} "))) {
                    out.push(format!("`{l}` does not use the RUN's pip cache mount {caches:?}"));
                }
            }
            if !caches.is_empty() && downloading.is_empty() {
                out.push(format!("cache mount {caches:?} serves no pip command in {lines:?}"));
            }
        }
    }
    out
}

#[test]
fn every_pip_download_goes_through_its_cache_mount() {
    let (p, _) = bundle();
    let mut checked = 0;
    for (dir, file) in dockerfiles(&p).expect("dockerfiles") {
        let misses = pip_cache_misses(&file);
        assert!(misses.is_empty(), "{dir}: {misses:#?}");
        checked += file.print().matches("--cache-dir ").count();
    }
    assert!(checked >= 3, "the check is not vacuous ({checked})");
    // A pip command that no longer names the mount is reported.
    let (_, mut file) = api_file(&p);
    for s in &mut file.stages {
        for i in &mut s.instructions {
            if let Instruction::Run {
                command: cerverus_render::packaging::docker::dockerfile::Command::Shell(ls),
                ..
            } = i
            {
                for l in ls.iter_mut() {
                    *l = l.replace("--cache-dir /root/.cache/pip ", "");
                }
            }
        }
    }
    assert!(!pip_cache_misses(&file).is_empty(), "a pip command without --cache-dir must be reported");
}

#[test]
fn every_runtime_sets_a_home_it_may_use_and_labels_after_its_runs() {
    let (p, _) = bundle();
    let imgs = images(&p);
    let bases = cerverus_render::packaging::docker::base::load().expect("pins");
    for (dir, file) in dockerfiles(&p).expect("dockerfiles") {
        let runtime = file.runtime().expect("runtime");
        assert!(runtime.args_before_run().is_empty(), "{dir}: {:?}", runtime.args_before_run());
        let home = runtime.env("HOME").unwrap_or_else(|| panic!("{dir}: HOME"));
        match dir.as_str() {
            // The Airflow roles run with the build user's HOME, read-only, as the runtime
            // contract's proof (scripts/airflow-contract) runs them.
            "airflow" => assert_eq!(home, bases.airflow.home),
            CERVERUS_IMAGE => assert_eq!(home, "/tmp"),
            _ => assert!(image(&imgs, &dir).writable_paths.iter().any(|w| w == home), "{dir}: HOME {home}"),
        }
        // Read off the text as well: the per-build ARGs and their labels follow the last RUN.
        let printed = file.print();
        let tail = printed.split("AS runtime").nth(1).expect("runtime stage");
        let last_run = tail.rfind("\nRUN ").unwrap_or(0);
        let revision = tail.find("\nARG REVISION").expect("ARG REVISION");
        assert!(last_run < revision, "{dir}: ARG REVISION before a RUN");
    }
}

/// `COPY --link` destinations whose parent directories belong to the base image: the linked
/// layer carries those parents as root-owned 0755 and they replace the base's (BuildKit's
/// documented `--link` caveat), so a base directory another user writes (Airflow's
/// `/opt/airflow`, `/tmp`) must only be copied into without `--link`. Allowed parents: the
/// stage's own `WORKDIR`s and system directories that are root-owned 0755 in every base.
fn link_copies_into_base_dirs(file: &Dockerfile) -> Vec<String> {
    const ROOT_0755: [&str; 5] = ["/", "/opt", "/usr", "/usr/local", "/usr/local/bin"];
    let mut out = Vec::new();
    for stage in &file.stages {
        let mut workdirs: Vec<&str> = Vec::new();
        for i in &stage.instructions {
            match i {
                Instruction::Workdir(w) => workdirs.push(w.as_str()),
                Instruction::Copy { link: true, dest, .. } => {
                    let absolute = if dest.starts_with('/') {
                        dest.trim_end_matches('/').to_string()
                    } else {
                        format!("{}/{}", workdirs.last().copied().unwrap_or("/"), dest.trim_start_matches("./"))
                    };
                    let mut parent = std::path::Path::new(&absolute).parent();
                    while let Some(p) = parent {
                        let p = p.to_str().unwrap_or_default();
                        let ours =
                            workdirs.iter().any(|w| w.trim_end_matches('/') == p || w.starts_with(&format!("{p}/")));
                        if !ours && !ROOT_0755.contains(&p) {
                            out.push(format!("COPY --link to {dest}: its parent {p} is the base image's"));
                            break;
                        }
                        parent = std::path::Path::new(p).parent();
                    }
                }
                _ => {}
            }
        }
    }
    out
}

#[test]
fn linked_copies_never_reset_a_base_directory() {
    let (p, _) = bundle();
    let files = dockerfiles(&p).expect("dockerfiles");
    for (dir, file) in &files {
        let problems = link_copies_into_base_dirs(file);
        assert!(problems.is_empty(), "{dir}: {problems:#?}");
    }
    // The Airflow builder writes its wheels into /opt/airflow as the base's build user: linking
    // the lock file there would make /opt/airflow root's and fail the build.
    let (_, airflow) = files.iter().find(|(d, _)| d == "airflow").expect("airflow");
    let mut linked = airflow.clone();
    for s in &mut linked.stages {
        for i in &mut s.instructions {
            if let Instruction::Copy { link, .. } = i {
                *link = true;
            }
        }
    }
    rejects(&link_copies_into_base_dirs(&linked), "its parent /opt/airflow is the base image's");
}

#[test]
fn builders_carry_the_compiler_and_runtimes_do_not() {
    let (p, _) = bundle();
    for (dir, file) in dockerfiles(&p).expect("dockerfiles") {
        if dir == CERVERUS_IMAGE || dir == "airflow" {
            continue;
        }
        let printed = file.print();
        let (builder, runtime) = printed.split_once("AS runtime").expect("two stages");
        assert!(builder.contains(" build-essential"), "{dir}: the builder compiles sdists");
        assert!(!runtime.contains("build-essential") && !runtime.contains("-dev"), "{dir}: no toolchain at run time");
    }
}

#[test]
fn every_pod_agrees_with_its_image() {
    let (p, b) = bundle();
    let imgs = images(&p);
    for env in envs(&p) {
        let objs = objects(&b, &env);
        let problems = pod_disagreements(&p, &env, &imgs, &objs);
        assert!(problems.is_empty(), "{env}: {problems:#?}");
        // Every workload's container was looked at (the check is not vacuous).
        let containers = objs
            .iter()
            .filter_map(|o| {
                let t = match o["kind"].as_str()? {
                    "CronJob" => &o["spec"]["jobTemplate"]["spec"]["template"],
                    "Deployment" | "StatefulSet" | "Job" | "Rollout" => &o["spec"]["template"],
                    _ => return None,
                };
                Some(t["spec"]["containers"].as_array()?.iter().filter_map(|c| c["name"].as_str().map(str::to_string)))
            })
            .flatten()
            .collect::<BTreeSet<_>>();
        for w in &p.env(&env).expect("env").workloads {
            assert!(containers.contains(w.name()), "{env}: no container for {}", w.name());
        }
    }
}

#[test]
fn image_facts_come_from_the_pods_and_contracts() {
    let (p, _) = bundle();
    let imgs = images(&p);
    let api = image(&imgs, "alerts-api");
    assert_eq!(api.ports, [8080, 9090]);
    assert_eq!(api.writable_paths, ["/tmp"]);
    let check = api.health_command.as_ref().expect("the API has a HEALTHCHECK").join(" ");
    assert!(check.starts_with("python -c ") && check.contains("'http://127.0.0.1:8080/healthz'"), "{check}");
    let airflow = image(&imgs, "airflow");
    // The runtime contract's write paths; the roles' liveness checks differ, so no single one.
    assert_eq!(airflow.writable_paths, ["/opt/airflow/logs", "/opt/airflow/run", "/tmp"]);
    assert_eq!(airflow.health_command, None);
    assert_eq!(airflow.entrypoint.last().map(String::as_str), Some("airflow"));
    assert_eq!(airflow.ports, [8080, 8793, 8794, 8974]);
    // The image creates those directories for the pods' user, and puts the DAGs and plugins
    // where the contract's Airflow looks for them.
    let files = dockerfiles(&p).expect("dockerfiles");
    let printed = files.iter().find(|(d, _)| d == "airflow").expect("airflow").1.print();
    assert!(
        printed.contains(&format!("install -d -o {APP_UID} -g {APP_UID} -m 0750 /opt/airflow/logs /opt/airflow/run"))
    );
    let bases = cerverus_render::packaging::docker::base::load().expect("pins");
    for w in p.environments.iter().flat_map(|e| &e.workloads).filter(|w| w.spec.image.repository == airflow.repository)
    {
        let contract = w.contract.expect("Airflow roles have contracts");
        for key in ["AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__PLUGINS_FOLDER"] {
            let folder = format!("{}/", contract.env[key]);
            assert!(bases.airflow.copies.iter().any(|c| c.to == folder), "{}: {key} {folder}", w.name());
            assert!(printed.contains(&format!(" {folder}\n")), "{folder}");
        }
    }
    // A CronJob without probes has no health check at all.
    assert_eq!(image(&imgs, "model-training").health_command, None);
}

// --- the checks reject broken copies ------------------------------------------------------------

fn api_file(p: &Platform) -> (Image, Dockerfile) {
    let imgs = images(p);
    let files = dockerfiles(p).expect("dockerfiles");
    let file = files.into_iter().find(|(d, _)| d == "alerts-api").expect("alerts-api").1;
    (image(&imgs, "alerts-api").clone(), file)
}

fn rejects(problems: &[String], needle: &str) {
    assert!(problems.iter().any(|p| p.contains(needle)), "expected a problem with `{needle}`, got {problems:#?}");
}

#[test]
fn dockerfile_check_rejects_a_single_stage_root_unpinned_image_with_a_secret() {
    let (p, _) = bundle();
    let (img, mut file) = api_file(&p);
    file.stages.remove(0);
    if let Some(BaseRef::Image { digest, .. }) = file.stages.first_mut().map(|s| &mut s.from) {
        *digest = "latest".into();
    }
    let runtime = file.stages.last_mut().expect("runtime");
    runtime.instructions.retain(|i| !matches!(i, Instruction::User(_)));
    runtime.instructions.push(Instruction::User(User::Numeric { uid: 0, gid: 0 }));
    runtime.instructions.push(Instruction::Env(vec![("AWS_SECRET_ACCESS_KEY".into(), "x".into())]));
    runtime.instructions.push(Instruction::Arg { name: "JWT_SIGNING_KEY".into(), default: None });
    let problems = dockerfile_disagreements(&img, &file);
    rejects(&problems, "1 stage(s)");
    rejects(&problems, "not pinned by a sha256 digest");
    rejects(&problems, "final USER");
    rejects(&problems, "AWS_SECRET_ACCESS_KEY");
    rejects(&problems, "JWT_SIGNING_KEY");
}

#[test]
fn dockerfile_check_rejects_a_missing_port_another_entrypoint_and_another_health_check() {
    let (p, _) = bundle();
    let (img, mut file) = api_file(&p);
    let runtime = file.stages.last_mut().expect("runtime");
    for i in &mut runtime.instructions {
        match i {
            Instruction::Expose(ports) => ports.retain(|&p| p != 9090),
            Instruction::Entrypoint(e) => *e = vec!["python".into(), "app.py".into()],
            Instruction::Healthcheck(Some(h)) => h.command = vec!["true".into()],
            _ => {}
        }
    }
    let problems = dockerfile_disagreements(&img, &file);
    rejects(&problems, "EXPOSE");
    rejects(&problems, "ENTRYPOINT");
    rejects(&problems, "HEALTHCHECK");
}

#[test]
fn dockerfile_check_rejects_a_build_argument_before_a_run_and_a_runtime_without_home() {
    let (p, _) = bundle();
    let (img, mut file) = api_file(&p);
    let runtime = file.stages.last_mut().expect("runtime");
    for i in &mut runtime.instructions {
        if let Instruction::Env(vars) = i {
            vars.retain(|(k, _)| k != "HOME");
        }
    }
    runtime.instructions.insert(0, Instruction::Arg { name: "REVISION".into(), default: None });
    runtime.instructions.insert(
        1,
        Instruction::Run {
            mounts: vec![],
            command: cerverus_render::packaging::docker::dockerfile::Command::Shell(vec!["true".into()]),
        },
    );
    let problems = dockerfile_disagreements(&img, &file);
    rejects(&problems, "ARG REVISION comes before a RUN");
    rejects(&problems, "sets no HOME");
}

fn broken_pods(mutate: impl Fn(&mut Value)) -> Vec<String> {
    let (p, b) = bundle();
    let imgs = images(&p);
    let mut objs = objects(&b, "dev");
    for o in &mut objs {
        mutate(o);
    }
    pod_disagreements(&p, "dev", &imgs, &objs)
}

fn container_of<'a>(o: &'a mut Value, workload: &str) -> Option<&'a mut Value> {
    let t = match o["kind"].as_str()? {
        "CronJob" => &mut o["spec"]["jobTemplate"]["spec"]["template"],
        "Deployment" | "StatefulSet" | "Job" | "Rollout" => &mut o["spec"]["template"],
        _ => return None,
    };
    t["spec"]["containers"].as_array_mut()?.iter_mut().find(|c| c["name"] == workload)
}

#[test]
fn pod_check_rejects_a_pod_running_as_another_uid() {
    let problems = broken_pods(|o| {
        if let Some(c) = container_of(o, "alerts-api") {
            c["securityContext"]["runAsUser"] = json!(1000);
        }
    });
    rejects(&problems, "dev/alerts-api (alerts-api): runAsUser Some(1000)");
}

#[test]
fn pod_check_rejects_an_image_with_another_uid_or_a_port_it_does_not_expose() {
    let (p, b) = bundle();
    let mut imgs = images(&p);
    for i in &mut imgs {
        if i.name == "alerts-api" {
            i.uid = 0;
        }
        if i.name == "stream-processor" {
            i.ports.clear();
        }
        if i.name == "airflow" {
            i.writable_paths.retain(|w| w != "/opt/airflow/run");
        }
    }
    let problems = pod_disagreements(&p, "dev", &imgs, &objects(&b, "dev"));
    rejects(&problems, "dev/db-migrate (alerts-api): runAsUser");
    rejects(&problems, "dev/stream-processor (stream-processor): containerPort 9090 is not exposed");
    rejects(&problems, "the pod mounts /opt/airflow/run writable, which is not among the image's writable paths");
}

#[test]
fn pod_check_rejects_a_path_the_image_writes_but_the_pod_does_not_mount() {
    let problems = broken_pods(|o| {
        if let Some(c) = container_of(o, "airflow-scheduler")
            && let Some(mounts) = c["volumeMounts"].as_array_mut()
        {
            mounts.retain(|m| m["mountPath"] != "/opt/airflow/logs");
        }
    });
    rejects(&problems, "dev/airflow-scheduler (airflow): the image writes /opt/airflow/logs");
}

#[test]
fn pod_check_rejects_a_liveness_probe_the_health_check_does_not_hit() {
    let problems = broken_pods(|o| {
        if let Some(c) = container_of(o, "alerts-api") {
            c["livenessProbe"]["httpGet"]["path"] = json!("/live");
        }
    });
    rejects(&problems, "dev/alerts-api (alerts-api): the liveness probe checks");
}

#[test]
fn pod_check_rejects_args_that_are_not_the_contracts_role_and_a_lost_job_command() {
    let problems = broken_pods(|o| {
        if let Some(c) = container_of(o, "airflow-triggerer") {
            c["args"] = json!(["scheduler"]);
        }
        if let Some(c) = container_of(o, "db-migrate")
            && let Some(m) = c.as_object_mut()
        {
            m.remove("command");
        }
    });
    rejects(&problems, "dev/airflow-triggerer (airflow): ENTRYPOINT");
    rejects(&problems, "dev/db-migrate (alerts-api): runs command []");
    // Airflow's migration Job (a one-shot built from a role's pod) must run the contract's
    // migration command.
    rejects(&problems, "dev/db-migrate (airflow): runs command [] args [], which is neither a workload");
}

#[test]
fn secret_like_names_are_recognised() {
    for n in ["AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "GITHUB_TOKEN", "AIRFLOW__CORE__FERNET_KEY", "JWT_SIGNING_KEY"] {
        assert!(secret_like(n), "{n}");
    }
    for n in
        ["PATH", "PYTHONDONTWRITEBYTECODE", "VERSION", "REVISION", "PYTHONUSERBASE", "PIP_DISABLE_PIP_VERSION_CHECK"]
    {
        assert!(!secret_like(n), "{n}");
    }
}
