//! The report in its three forms, on the default spec's prod simulation and on hand-made reports:
//! the HTML page is well-formed with a chart in every chart section and escapes what it is given;
//! the text names every verdict; the JSON round-trips and matches `docs/simulate-json.md` both
//! ways (every key the report has is documented in its section, every documented field exists).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use cerverus_simulate::report::{Format, render, svg::well_formed};
use cerverus_simulate::{ModelInfo, Options, Report, Verdict};
use serde_json::Value;

fn prod() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| {
        let loaded = cerverus_spec::load("cerverus.yaml", cerverus_spec::DEFAULT_SPEC).expect("loads");
        let platform = cerverus_model::resolve(&loaded).expect("resolves");
        let bundle = cerverus_render::render(&platform, &["prod".to_string()]).expect("renders");
        let env = platform.env("prod").expect("prod");
        let inputs = cerverus_simulate::Inputs::from_bundle(&platform, env, &bundle).expect("inputs");
        cerverus_simulate::simulate(&inputs, &Options::default()).expect("simulates")
    })
}

fn form(report: &Report, f: Format) -> String {
    render(report, f).expect("renders")
}

/// The text of `<section id="{id}" …>…</section>` (sections do not nest), if present.
fn section<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    let start = html.find(&format!("<section id=\"{id}\""))?;
    let len = html[start..].find("</section>")?;
    Some(&html[start..start + len])
}

/// Every `<svg …>…</svg>` in `s` (charts do not nest).
fn svgs(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(a) = rest.find("<svg ") {
        let Some(b) = rest[a..].find("</svg>") else { break };
        out.push(&rest[a..a + b + "</svg>".len()]);
        rest = &rest[a + b..];
    }
    out
}

#[test]
fn prod_html_is_well_formed_with_a_chart_in_every_chart_section() {
    let html = form(prod(), Format::Html);
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    // The whole page parses as XML: tags balance, attributes are quoted, every `&` is an entity.
    well_formed(&html).expect("the page is well-formed");
    // Self-contained: no script, nothing loaded from anywhere.
    for banned in ["<script", " src=", "<link", "url(", "<img", "<iframe"] {
        assert!(!html.contains(banned), "the page contains {banned}");
    }
    // At least the charts each section is built to draw.
    for (id, min) in [("capacity", 2), ("surge", 2), ("provisioning", 1), ("cost", 1), ("recovery", 1)] {
        let s = section(&html, id).unwrap_or_else(|| panic!("no section {id}"));
        let charts = svgs(s);
        assert!(charts.len() >= min, "section {id}: {} charts, expected at least {min}", charts.len());
        for c in charts {
            well_formed(c).unwrap_or_else(|e| panic!("section {id}: chart not well-formed: {e}"));
            assert!(c.contains("<title>") && c.contains("role=\"img\"") && c.contains("viewBox=\"0 0 "), "{id}");
            assert!(c.contains("<rect ") || c.contains("<path "), "section {id}: a chart that draws nothing");
        }
    }
    assert!(section(&html, "model").is_some_and(|m| m.contains("This is a model")));
    // Every data file's provenance and sources are on the page, the sources as links.
    for p in &prod().model.constants {
        assert!(html.contains(&p.file), "{}", p.file);
        assert!(html.contains(&p.as_of));
        // Every URL of a source is a link (some sources are offline copies or the issue itself,
        // without one).
        for src in &p.sources {
            for (i, _) in src.match_indices("https://") {
                let url: String = src[i..]
                    .chars()
                    .take_while(|c| !c.is_whitespace() && !matches!(c, ')' | ']' | '>' | '"'))
                    .collect();
                let url = url.trim_end_matches(['.', ',', ';']).replace('&', "&amp;");
                assert!(html.contains(&format!("<a href=\"{url}\"")), "{}: no link to {url}", p.file);
            }
        }
    }
    // Deterministic.
    assert_eq!(html, form(prod(), Format::Html));
}

#[test]
fn prod_html_shows_the_verdict_and_counts_in_the_header() {
    let r = prod();
    let html = form(r, Format::Html);
    let header = &html[html.find("<header").expect("header")..html.find("</header>").expect("header end")];
    let failed = r.verdicts.iter().filter(|v| !v.pass).count();
    assert!(header.contains(if r.passed() { ">PASS<" } else { ">FAIL<" }));
    assert!(header.contains(&format!("{} verdicts, {failed} failed", r.verdicts.len())), "{header}");
    assert!(header.contains("traffic ×10"));
    assert_eq!(html.contains("id=\"failing\""), failed > 0);
}

#[test]
fn prod_text_names_every_verdict_and_ends_with_the_sources() {
    let r = prod();
    let text = form(r, Format::Text);
    let failed = r.verdicts.iter().filter(|v| !v.pass).count();
    let first = text.lines().next().expect("a first line");
    assert!(first.starts_with(&format!("prod: {} verdicts, {failed} failed", r.verdicts.len())), "{first}");
    for v in &r.verdicts {
        assert!(text.contains(&v.subject), "text does not name {} ({})", v.subject, v.scenario);
    }
    assert!(!text.contains('\u{1b}'), "no terminal escapes");
    let model = text.rfind("== This is a model ==").expect("the model box at the end");
    let tail = &text[model..];
    assert!(tail.contains(cerverus_simulate::DISCLAIMER));
    for p in &r.model.constants {
        assert!(tail.contains(&p.file), "{}", p.file);
        for s in &p.sources {
            assert!(tail.contains(s.as_str()), "{s}");
        }
    }
    // The sections come in the page's order.
    let order: Vec<usize> = [
        "Capacity under failure",
        "Surge: time to scale",
        "Provisioning critical path",
        "Monthly cost",
        "Recovery: RPO and RTO",
    ]
    .iter()
    .map(|t| text.find(&format!("== {t}")).unwrap_or_else(|| panic!("no section {t}")))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
}

/// Parse `docs/simulate-json.md` into sections (`Top level` and each top-level key, by the
/// backticked name of their `## ` heading), each with its text, its documented fields (the
/// backticked names in the first cell of its table rows; `absent`-marked rows are optional), and
/// the fields documented as *map* (their keys are data, not field names).
struct Doc {
    text: BTreeMap<String, String>,
    fields: BTreeMap<String, Vec<(String, bool)>>,
    maps: BTreeSet<String>,
}

fn doc() -> Doc {
    let text = include_str!("../../../docs/simulate-json.md");
    let mut d = Doc { text: BTreeMap::new(), fields: BTreeMap::new(), maps: BTreeSet::new() };
    let mut current = String::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            current = h.trim().trim_matches('`').to_string();
            continue;
        }
        if current.is_empty() {
            continue;
        }
        let t = d.text.entry(current.clone()).or_default();
        t.push_str(line);
        t.push('\n');
        if let Some(row) = line.strip_prefix("| ") {
            let cell = row.split(" | ").next().unwrap_or("");
            let optional = line.contains("absent");
            for name in cell.split('`').skip(1).step_by(2) {
                d.fields.entry(current.clone()).or_default().push((name.to_string(), optional));
                if line.contains("*map*") {
                    d.maps.insert(name.to_string());
                }
            }
        }
    }
    d
}

/// Every field name under `v` (keys of objects, except the keys of `maps`' values, which are data).
fn keys(v: &Value, parent: Option<&str>, maps: &BTreeSet<String>, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            let data = parent.is_some_and(|p| maps.contains(p));
            for (k, x) in m {
                if !data {
                    out.insert(k.clone());
                }
                // A map's values are walked with no parent name: their fields are fields again.
                keys(x, if data { None } else { Some(k) }, maps, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| keys(x, parent, maps, out)),
        _ => {}
    }
}

#[test]
fn prod_json_round_trips_and_matches_its_documentation() {
    let json = form(prod(), Format::Json);
    let v: Value = serde_json::from_str(&json).expect("JSON");
    let again: Value = serde_json::from_str(&serde_json::to_string(&v).expect("serializes")).expect("parses");
    assert_eq!(v, again);
    let top: BTreeSet<&str> = v.as_object().expect("an object").keys().map(String::as_str).collect();
    assert_eq!(top, BTreeSet::from(["model", "capacity", "scaling", "provisioning", "cost", "recovery", "verdicts"]));
    assert_eq!(v["verdicts"].as_array().map(Vec::len), Some(prod().verdicts.len()));

    let d = doc();
    let documented_top: BTreeSet<&str> = d.fields["Top level"].iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(documented_top, top, "the doc's top-level table");
    let mut missing = Vec::new();
    let mut stale = Vec::new();
    for key in &top {
        let text = d.text.get(*key).unwrap_or_else(|| panic!("docs/simulate-json.md has no `## `{key}`` section"));
        let mut found = BTreeSet::new();
        keys(&v[*key], Some(key), &d.maps, &mut found);
        for k in &found {
            if !text.contains(&format!("`{k}`")) {
                missing.push(format!("{key}: `{k}`"));
            }
        }
        for (f, optional) in d.fields.get(*key).map(Vec::as_slice).unwrap_or_default() {
            if !optional && !found.contains(f) {
                stale.push(format!("{key}: `{f}`"));
            }
        }
    }
    assert!(missing.is_empty(), "keys of the prod report not documented in their section: {missing:?}");
    assert!(stale.is_empty(), "documented fields the prod report does not have: {stale:?}");
}

/// A report with no sections and the given verdicts, for the hand-made cases.
fn bare(verdicts: Vec<Verdict>, sources: Vec<String>) -> Report {
    Report {
        model: ModelInfo {
            environment: "dev <&> \"x\"".into(),
            traffic_multiplier: 2.5,
            scenarios: vec![cerverus_simulate::Scenario::Cost],
            disclaimer: cerverus_simulate::DISCLAIMER.into(),
            constants: vec![cerverus_simulate::data::Provenance {
                file: "data/simulation/x.json".into(),
                model: "a <b>model</b>".into(),
                sources,
                as_of: "2026-12-03".into(),
                region: None,
            }],
        },
        capacity: None,
        scaling: None,
        provisioning: None,
        cost: None,
        recovery: None,
        verdicts,
    }
}

fn verdict(scenario: &str, subject: &str, pass: bool) -> Verdict {
    Verdict { scenario: scenario.into(), subject: subject.into(), pass, detail: format!("detail of {subject} & more") }
}

#[test]
fn everything_from_a_spec_or_a_model_is_escaped() {
    let hostile = "<script>alert(1)</script>&\"'";
    let r = bare(
        vec![verdict("cost", hostile, false), verdict("cost", "ok", true)],
        vec![
            format!("{hostile} — https://example.com/a?b=1&c=\"2\""),
            "javascript:alert(1)".into(),
            "plain title".into(),
        ],
    );
    let html = form(&r, Format::Html);
    well_formed(&html).expect("well-formed despite the input");
    assert!(!html.contains("<script"), "a tag from the input reached the page");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&amp;"));
    // Only http(s) URLs become links; the query's `&` is escaped inside the attribute, and the
    // URL stops at the quote.
    assert!(html.contains("<a href=\"https://example.com/a?b=1&amp;c=\" rel=\"noreferrer\">"), "{html}");
    assert!(!html.contains("href=\"javascript"));
    assert!(html.contains("<title>cerverus simulate: dev &lt;&amp;&gt; \"x\" — FAIL</title>"));
    // Text is for a terminal or a log: as written.
    let text = form(&r, Format::Text);
    assert!(text.starts_with("dev <&> \"x\": 2 verdicts, 1 failed (FAIL)\n"), "{text}");
    assert!(text.contains(hostile));
}

#[test]
fn failing_verdicts_are_listed_first() {
    let r = bare(
        vec![verdict("cost", "passes-a", true), verdict("cost", "fails-b", false), verdict("cost", "passes-c", true)],
        vec!["t — https://example.com".into()],
    );
    let html = form(&r, Format::Html);
    let failing = html.find("id=\"failing\"").expect("a failing box");
    assert!(failing < html.find("id=\"model\"").expect("model box"));
    assert!(html.contains(">1 failing verdict<"));
    assert!(html.contains(">cost: 2/3 pass<"), "per-scenario chip");
    let text = form(&r, Format::Text);
    // Every verdict is named (these belong to no section: an "Other verdicts" section lists them),
    // the failing one first.
    assert!(text.find("fails-b").expect("named") < text.find("passes-a").expect("named"), "{text}");
    assert!(text.contains("passes-c"));
    assert!(text.find("== 1 failing verdict ==").expect("heading") < text.find("== This is a model ==").expect("end"));

    // All passing: no failing box, PASS.
    let ok = bare(vec![verdict("cost", "a", true)], vec![]);
    let html = form(&ok, Format::Html);
    assert!(!html.contains("id=\"failing\""));
    assert!(html.contains("class=\"badge pass\">PASS<"));
    assert!(html.contains("No data file") || html.contains("data/simulation/x.json"));
}
