//! Dockerfile rules.

use std::collections::BTreeSet;

use super::{Sink, parse_comment_waivers};
use crate::inventory::Inventory;

pub fn check(inv: &Inventory, sink: &mut Sink<'_>) {
    for d in &inv.dockerfiles {
        let w = parse_comment_waivers(d.comments.iter().map(|(_, c)| c.as_str()));
        let object = "Dockerfile";
        sink.check_waivers(&d.file, 1, object, &w);
        let mut stages = BTreeSet::new();
        let mut last_user: Option<(usize, String)> = None;
        for i in &d.instructions {
            match i.keyword.as_str() {
                "FROM" => {
                    let mut parts = i.args.split_whitespace().filter(|p| !p.starts_with("--"));
                    let image = parts.next().unwrap_or("");
                    if let (Some(kw), Some(alias)) = (parts.next(), parts.next())
                        && kw.eq_ignore_ascii_case("as")
                    {
                        stages.insert(alias.to_ascii_lowercase());
                    }
                    let is_stage = stages.contains(&image.to_ascii_lowercase()) && !image.contains(':');
                    if image != "scratch" && !is_stage && !image.contains('@') {
                        let last = image.rsplit('/').next().unwrap_or(image);
                        let tag = last.split_once(':').map(|(_, t)| t);
                        if tag.is_none() || tag == Some("latest") {
                            sink.report(
                                "CV-DOCKER-003",
                                &d.file,
                                i.line,
                                object,
                                format!("base image `{image}` has no version"),
                                &w,
                            );
                        }
                    }
                    // A new stage starts as root again.
                    last_user = None;
                }
                "USER" => last_user = Some((i.line, i.args.clone())),
                "ADD" if i.args.split_whitespace().any(|a| a.starts_with("http://") || a.starts_with("https://")) => {
                    sink.report("CV-DOCKER-002", &d.file, i.line, object, "ADD downloads from a URL".into(), &w);
                }
                _ => {}
            }
        }
        let root = match &last_user {
            None => true,
            Some((_, u)) => {
                let user = u.split(':').next().unwrap_or("").trim();
                user == "root" || user == "0"
            }
        };
        if root && !d.instructions.is_empty() {
            let line = last_user.as_ref().map_or_else(|| d.instructions.last().map_or(1, |i| i.line), |(l, _)| *l);
            sink.report("CV-DOCKER-001", &d.file, line, object, "the final stage runs as root".into(), &w);
        }
    }
}
