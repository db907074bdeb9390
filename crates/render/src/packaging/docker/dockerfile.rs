//! A Dockerfile as data: stages of typed instructions, and the one printer that turns them into
//! text. Recipes (`recipes.rs`) build these values; tests inspect them as values; nothing else
//! formats Dockerfile text.

use std::fmt::Write as _;

/// A whole Dockerfile: a parser directive, header comments (what it builds and how), and stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// BuildKit frontend (`# syntax=`): cache and bind mounts, `COPY --link` need 1.4+.
    pub syntax: String,
    /// Comment lines at the top (without `#`).
    pub header: Vec<String>,
    pub stages: Vec<Stage>,
}

/// One `FROM` and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Comment lines above the `FROM` (without `#`).
    pub comment: Vec<String>,
    pub from: BaseRef,
    /// The `AS` name, for later stages to copy from.
    pub name: Option<String>,
    pub instructions: Vec<Instruction>,
}

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseRef {
    /// A registry image, `repository[:tag]@digest` (the digest is what is pulled; the tag says
    /// which release it was).
    Image { repository: String, tag: Option<String>, digest: String },
    /// An earlier stage of the same file, by its `AS` name.
    Stage(String),
}

/// The user a stage runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum User {
    /// `USER uid:gid`: numeric, so the runtime needs no passwd entry and Kubernetes can verify
    /// `runAsNonRoot`.
    Numeric { uid: i64, gid: i64 },
    /// A user the base image defines by name (its build user, e.g. `root` for package installs).
    Named(String),
}

/// A BuildKit `RUN --mount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// A cache kept between builds (pip's wheel cache, cargo's registry and target directory).
    Cache { target: String, id: Option<String>, uid: Option<i64>, sharing_locked: bool },
    /// Files of another stage, visible to this step only (wheels installed without a layer).
    Bind { from: String, source: String, target: String },
}

/// What a `RUN` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Exec form (no shell): one program and its arguments.
    Exec(Vec<String>),
    /// Shell form: commands joined by `&&` (every one must succeed), one per printed line.
    Shell(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    pub start_period_seconds: u32,
    pub retries: u32,
    /// Exec form.
    pub command: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// A comment line (without `#`): why the next instruction is what it is.
    Comment(String),
    /// `# hadolint ignore=…` for the next instruction, with the reason printed on the line above
    /// (the validator rejects an ignore without one).
    LintIgnore {
        rules: Vec<String>,
        reason: String,
    },
    Arg {
        name: String,
        default: Option<String>,
    },
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Run {
        mounts: Vec<Mount>,
        command: Command,
    },
    Copy {
        from: Option<String>,
        chown: Option<User>,
        link: bool,
        sources: Vec<String>,
        dest: String,
    },
    User(User),
    Workdir(String),
    Expose(Vec<u16>),
    /// `None`: `HEALTHCHECK NONE` (whoever runs the image sets the check, per role).
    Healthcheck(Option<Healthcheck>),
    Entrypoint(Vec<String>),
    Cmd(Vec<String>),
}

impl Dockerfile {
    /// The final stage: what the image is.
    pub fn runtime(&self) -> Option<&Stage> {
        self.stages.last()
    }

    /// The Dockerfile's text.
    pub fn print(&self) -> String {
        let mut out = format!("# syntax={}\n", self.syntax);
        for line in &self.header {
            comment(&mut out, line);
        }
        for stage in &self.stages {
            out.push('\n');
            for line in &stage.comment {
                comment(&mut out, line);
            }
            out.push_str("FROM ");
            match &stage.from {
                BaseRef::Image { repository, tag: Some(tag), digest } => {
                    let _ = write!(out, "{repository}:{tag}@{digest}");
                }
                BaseRef::Image { repository, tag: None, digest } => {
                    let _ = write!(out, "{repository}@{digest}");
                }
                BaseRef::Stage(name) => out.push_str(name),
            }
            if let Some(name) = &stage.name {
                let _ = write!(out, " AS {name}");
            }
            out.push('\n');
            for i in &stage.instructions {
                instruction(&mut out, i);
            }
        }
        out
    }
}

impl Stage {
    /// The last `USER` of the stage (the user its process runs as).
    pub fn user(&self) -> Option<&User> {
        self.instructions.iter().rev().find_map(|i| match i {
            Instruction::User(u) => Some(u),
            _ => None,
        })
    }

    pub fn exposed(&self) -> Vec<u16> {
        self.instructions
            .iter()
            .filter_map(|i| match i {
                Instruction::Expose(p) => Some(p.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    pub fn healthcheck(&self) -> Option<&Option<Healthcheck>> {
        self.instructions.iter().find_map(|i| match i {
            Instruction::Healthcheck(h) => Some(h),
            _ => None,
        })
    }

    pub fn entrypoint(&self) -> Option<&[String]> {
        self.instructions.iter().rev().find_map(|i| match i {
            Instruction::Entrypoint(e) => Some(e.as_slice()),
            _ => None,
        })
    }

    /// The value the stage's last `ENV` gives `name`, if any.
    pub fn env(&self, name: &str) -> Option<&str> {
        self.instructions.iter().rev().find_map(|i| match i {
            Instruction::Env(vars) => vars.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str()),
            _ => None,
        })
    }

    /// `ARG`s followed by a `RUN` in the stage: each such `RUN` sees the argument in its
    /// environment, so a new value (a commit, a version) misses its cache.
    pub fn args_before_run(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for i in &self.instructions {
            match i {
                Instruction::Arg { name, .. } => seen.push(name.as_str()),
                Instruction::Run { .. } => out.append(&mut seen),
                _ => {}
            }
        }
        out
    }

    /// Names of every `ENV` and `ARG` of the stage.
    pub fn variable_names(&self) -> Vec<&str> {
        let mut names = Vec::new();
        for i in &self.instructions {
            match i {
                Instruction::Arg { name, .. } => names.push(name.as_str()),
                Instruction::Env(vars) => names.extend(vars.iter().map(|(k, _)| k.as_str())),
                _ => {}
            }
        }
        names
    }
}

fn comment(out: &mut String, line: &str) {
    if line.is_empty() {
        out.push_str("#\n");
    } else {
        let _ = writeln!(out, "# {line}");
    }
}

/// A JSON string: Dockerfile exec forms are JSON arrays, and `ENV`/`LABEL` values in double
/// quotes take the same escapes.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn exec_form(words: &[String]) -> String {
    format!("[{}]", words.iter().map(|w| quoted(w)).collect::<Vec<_>>().join(", "))
}

fn user(u: &User) -> String {
    match u {
        User::Numeric { uid, gid } => format!("{uid}:{gid}"),
        User::Named(n) => n.clone(),
    }
}

fn pairs(out: &mut String, keyword: &str, vars: &[(String, String)]) {
    let _ = write!(out, "{keyword}");
    for (n, (k, v)) in vars.iter().enumerate() {
        let sep = if n == 0 { " " } else { " \\\n    " };
        let _ = write!(out, "{sep}{k}={}", quoted(v));
    }
    out.push('\n');
}

fn mount(m: &Mount) -> String {
    match m {
        Mount::Cache { target, id, uid, sharing_locked } => {
            let mut s = format!("--mount=type=cache,target={target}");
            if let Some(id) = id {
                let _ = write!(s, ",id={id}");
            }
            if let Some(uid) = uid {
                let _ = write!(s, ",uid={uid}");
            }
            if *sharing_locked {
                s.push_str(",sharing=locked");
            }
            s
        }
        Mount::Bind { from, source, target } => {
            format!("--mount=type=bind,from={from},source={source},target={target}")
        }
    }
}

fn instruction(out: &mut String, i: &Instruction) {
    match i {
        Instruction::Comment(line) => comment(out, line),
        Instruction::LintIgnore { rules, reason } => {
            comment(out, reason);
            let _ = writeln!(out, "# hadolint ignore={}", rules.join(","));
        }
        Instruction::Arg { name, default } => match default {
            Some(d) => {
                let _ = writeln!(out, "ARG {name}={}", quoted(d));
            }
            None => {
                let _ = writeln!(out, "ARG {name}");
            }
        },
        Instruction::Env(vars) => pairs(out, "ENV", vars),
        Instruction::Label(vars) => pairs(out, "LABEL", vars),
        Instruction::Run { mounts, command } => {
            out.push_str("RUN");
            for m in mounts {
                let _ = write!(out, " {} \\\n   ", mount(m));
            }
            match command {
                Command::Exec(words) => {
                    let _ = writeln!(out, " {}", exec_form(words));
                }
                Command::Shell(lines) => {
                    let _ = writeln!(out, " {}", lines.join(" \\\n    && "));
                }
            }
        }
        Instruction::Copy { from, chown, link, sources, dest } => {
            out.push_str("COPY");
            if *link {
                out.push_str(" --link");
            }
            if let Some(f) = from {
                let _ = write!(out, " --from={f}");
            }
            if let Some(u) = chown {
                let _ = write!(out, " --chown={}", user(u));
            }
            let _ = writeln!(out, " {} {dest}", sources.join(" "));
        }
        Instruction::User(u) => {
            let _ = writeln!(out, "USER {}", user(u));
        }
        Instruction::Workdir(w) => {
            let _ = writeln!(out, "WORKDIR {w}");
        }
        Instruction::Expose(ports) => {
            let ports: Vec<String> = ports.iter().map(|p| format!("{p}/tcp")).collect();
            let _ = writeln!(out, "EXPOSE {}", ports.join(" "));
        }
        Instruction::Healthcheck(None) => out.push_str("HEALTHCHECK NONE\n"),
        Instruction::Healthcheck(Some(h)) => {
            let _ = writeln!(
                out,
                "HEALTHCHECK --interval={}s --timeout={}s --start-period={}s --retries={} \\\n    CMD {}",
                h.interval_seconds,
                h.timeout_seconds,
                h.start_period_seconds,
                h.retries,
                exec_form(&h.command)
            );
        }
        Instruction::Entrypoint(words) => {
            let _ = writeln!(out, "ENTRYPOINT {}", exec_form(words));
        }
        Instruction::Cmd(words) => {
            let _ = writeln!(out, "CMD {}", exec_form(words));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_every_instruction_form() {
        let f = Dockerfile {
            syntax: "docker/dockerfile:1.7".into(),
            header: vec!["what".into(), String::new()],
            stages: vec![
                Stage {
                    comment: vec![],
                    from: BaseRef::Image {
                        repository: "python".into(),
                        tag: Some("3.12-slim".into()),
                        digest: "sha256:00".into(),
                    },
                    name: Some("builder".into()),
                    instructions: vec![
                        Instruction::Arg { name: "VERSION".into(), default: Some("1".into()) },
                        Instruction::Run {
                            mounts: vec![Mount::Cache {
                                target: "/root/.cache/pip".into(),
                                id: None,
                                uid: None,
                                sharing_locked: false,
                            }],
                            command: Command::Shell(vec!["a".into(), "b".into()]),
                        },
                    ],
                },
                Stage {
                    comment: vec!["runtime".into()],
                    from: BaseRef::Stage("builder".into()),
                    name: None,
                    instructions: vec![
                        Instruction::Env(vec![("A".into(), "x \"y\"".into()), ("B".into(), "2".into())]),
                        Instruction::Copy {
                            from: Some("builder".into()),
                            chown: Some(User::Numeric { uid: 1, gid: 2 }),
                            link: true,
                            sources: vec!["/a".into()],
                            dest: "/b".into(),
                        },
                        Instruction::LintIgnore { rules: vec!["DL3008".into()], reason: "why".into() },
                        Instruction::User(User::Numeric { uid: 1, gid: 2 }),
                        Instruction::Expose(vec![80, 90]),
                        Instruction::Healthcheck(None),
                        Instruction::Entrypoint(vec!["p".into(), "-c".into()]),
                    ],
                },
            ],
        };
        let text = f.print();
        let want = "# syntax=docker/dockerfile:1.7\n# what\n#\n\nFROM python:3.12-slim@sha256:00 AS builder\n\
ARG VERSION=\"1\"\nRUN --mount=type=cache,target=/root/.cache/pip \\\n    a \\\n    && b\n\n# runtime\nFROM builder\n\
ENV A=\"x \\\"y\\\"\" \\\n    B=\"2\"\nCOPY --link --from=builder --chown=1:2 /a /b\n# why\n# hadolint ignore=DL3008\n\
USER 1:2\nEXPOSE 80/tcp 90/tcp\nHEALTHCHECK NONE\nENTRYPOINT [\"p\", \"-c\"]\n";
        assert_eq!(text, want);
        assert_eq!(f.runtime().and_then(Stage::user), Some(&User::Numeric { uid: 1, gid: 2 }));
    }
}
