//! One self-contained HTML page with SVG charts: no script, no style sheet, font or image loaded
//! from anywhere (the only URLs are the constants' sources, as links). Written as XHTML-compatible
//! markup (void elements self-closed) so the same well-formedness check that judges the charts can
//! judge the page, and built with [`Element`], so every text from a spec or a model is escaped.
//!
//! Order: the verdict (PASS/FAIL, counts per scenario), the failing verdicts if any, the "this is
//! a model" box with the constants' provenance, then one section per report present — facts,
//! charts, tables, the section's verdicts failing first (passing ones folded away).

use super::view::{self, Section, Table, counts_by_scenario, pass_word};
use super::xml::Element;
use crate::Report;
use crate::data::Provenance;

/// The page's style sheet. Kept free of `<` and `&` so it is valid as raw text in both HTML and XML.
const CSS: &str = r#"
:root { --pass: #009E73; --fail: #D55E00; --ink: #1f2933; --muted: #52606d; --line: #d9dee3; --soft: #f4f6f8; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: #ffffff; }
header.top { background: var(--ink); color: #ffffff; padding: 22px 40px; }
header.top .row { display: flex; flex-wrap: wrap; gap: 28px; align-items: center; max-width: 1100px; margin: 0 auto; }
header.top h1 { margin: 0; font-size: 26px; font-weight: 650; }
header.top p { margin: 2px 0 0; color: #cbd2d9; }
.badge { font-size: 30px; font-weight: 800; letter-spacing: 1px; padding: 4px 20px; border-radius: 6px; color: #ffffff; }
.badge.pass { background: var(--pass); }
.badge.fail { background: var(--fail); }
.chips { display: flex; flex-wrap: wrap; gap: 8px; list-style: none; padding: 0; margin: 14px auto 0; max-width: 1100px; }
.chips li { background: #323f4b; border-radius: 14px; padding: 2px 12px; font-size: 13px; }
.chips li.fail { background: var(--fail); }
.chips a { color: inherit; text-decoration: none; }
nav.glance { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap: 10px; margin-top: 22px; }
a.glance { display: block; text-decoration: none; color: var(--ink); border: 1px solid var(--line); border-top: 6px solid var(--line); border-radius: 6px; padding: 8px 12px; }
a.glance.pass { border-top-color: var(--pass); }
a.glance.fail { border-top-color: var(--fail); background: #fdeee6; }
a.glance span { display: block; font-size: 12px; color: var(--muted); }
a.glance span.t { font-weight: 650; color: var(--ink); font-size: 13px; }
a.glance b { display: block; font-size: 22px; font-variant-numeric: tabular-nums; margin: 2px 0; }
a.glance.fail span.v { color: var(--fail); font-weight: 650; }
main { max-width: 1100px; margin: 0 auto; padding: 10px 40px 40px; }
section { margin-top: 34px; }
h2 { font-size: 21px; margin: 0 0 4px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h2 .state { font-size: 13px; font-weight: 700; padding: 1px 8px; border-radius: 4px; color: #ffffff; vertical-align: middle; margin-left: 8px; }
h2 .state.pass { background: var(--pass); }
h2 .state.fail { background: var(--fail); }
h3 { font-size: 16px; margin: 18px 0 6px; }
p.question { color: var(--muted); margin: 4px 0 12px; }
.tiles { display: flex; flex-wrap: wrap; gap: 10px; margin: 10px 0 6px; }
.tile { border: 1px solid var(--line); border-radius: 6px; padding: 6px 14px; min-width: 150px; background: var(--soft); }
.tile span { display: block; font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: 0.4px; }
.tile b { font-size: 20px; font-variant-numeric: tabular-nums; }
figure { margin: 18px 0; }
figcaption { font-weight: 600; margin-bottom: 4px; }
svg.chart { width: 100%; height: auto; display: block; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; margin: 6px 0 14px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td { overflow-wrap: break-word; }
td.v, td:nth-child(2) { white-space: nowrap; }
.scroll { overflow-x: auto; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.fail td { background: #fdeee6; }
td.v { font-weight: 700; white-space: nowrap; }
tr.pass td.v { color: var(--pass); }
tr.fail td.v { color: var(--fail); }
details { margin: 6px 0 14px; }
details summary { cursor: pointer; color: var(--muted); }
.failing { border-left: 6px solid var(--fail); background: #fdeee6; padding: 10px 20px; margin-top: 24px; }
.failing h2 { border: none; }
.model { border-left: 6px solid #E69F00; background: #fff8e6; padding: 10px 20px; margin-top: 24px; }
.model h2 { border: none; }
.model dl { margin: 8px 0; }
.model dt { font-weight: 600; margin-top: 8px; }
.model dd { margin: 0 0 0 18px; }
.model ul { margin: 2px 0; padding-left: 20px; }
ul.notes { color: var(--muted); font-size: 13.5px; }
footer { max-width: 1100px; margin: 0 auto; padding: 0 40px 30px; color: var(--muted); font-size: 13px; }
"#;

/// The report as an HTML page.
pub fn render(report: &Report) -> String {
    let sections = view::sections(report);
    let env = &report.model.environment;
    let failed: Vec<_> = report.verdicts.iter().filter(|v| !v.pass).collect();
    let head = Element::new("head")
        .child(Element::new("meta").attr("charset", "utf-8"))
        .child(Element::new("meta").attr("name", "viewport").attr("content", "width=device-width, initial-scale=1"))
        .child(Element::new("title").text(format!("cerverus simulate: {env} — {}", pass_word(report.passed()))))
        .child(Element::new("style").raw(CSS));
    let mut main = Element::new("main");
    if !sections.is_empty() {
        main.push(glance(&sections));
    }
    if !failed.is_empty() {
        main.push(failing_box(report, &sections));
    }
    main.push(model_box(report));
    for s in &sections {
        main.push(section(s));
    }
    let body = Element::new("body").child(header(report, &sections)).child(main).child(Element::new("footer").child(
        Element::new("p").text(format!("Generated by cerverus simulate for environment {env}. {}", crate::DISCLAIMER)),
    ));
    let html = Element::new("html").attr("lang", "en").child(head).child(body);
    format!("<!DOCTYPE html>\n{}\n", html.render())
}

fn header(report: &Report, sections: &[Section]) -> Element {
    let m = &report.model;
    let total = report.verdicts.len();
    let failed = report.verdicts.iter().filter(|v| !v.pass).count();
    let pass = report.passed();
    let scenarios: Vec<&str> = m.scenarios.iter().map(|s| s.name()).collect();
    let title = Element::new("div").child(Element::new("h1").text(format!("Simulation of {}", m.environment))).child(
        Element::new("p").text(format!(
            "traffic ×{} · scenarios: {} · {total} verdicts, {failed} failed",
            super::svg::num(m.traffic_multiplier),
            scenarios.join(", ")
        )),
    );
    let row = Element::new("div")
        .attr("class", "row")
        .child(Element::new("div").attr("class", if pass { "badge pass" } else { "badge fail" }).text(pass_word(pass)))
        .child(title);
    let mut chips = Element::new("ul").attr("class", "chips").attr("aria-label", "verdicts per scenario");
    for (family, n, bad) in counts_by_scenario(&report.verdicts) {
        let target = sections.iter().find(|s| s.verdicts.iter().any(|v| view::scenario_family(&v.scenario) == family));
        let label = format!("{family}: {}/{n} pass", n - bad);
        let chip = match target {
            Some(s) => Element::new("a").attr("href", format!("#{}", s.id)).text(label),
            None => Element::new("span").text(label),
        };
        chips.push(Element::new("li").attr("class", if bad > 0 { "fail" } else { "pass" }).child(chip));
    }
    Element::new("header").attr("class", "top").child(row).child(chips)
}

/// One tile per section: its headline number, coloured by the section's verdicts, linking to it.
fn glance(sections: &[Section]) -> Element {
    let mut nav = Element::new("nav").attr("class", "glance").attr("aria-label", "at a glance");
    for s in sections {
        let state = if s.verdicts.is_empty() {
            "none"
        } else if s.failed() == 0 {
            "pass"
        } else {
            "fail"
        };
        let verdicts = if s.verdicts.is_empty() {
            "no verdict".to_string()
        } else if s.failed() == 0 {
            format!("{} pass", view::count(s.verdicts.len(), "verdict"))
        } else {
            format!("{} of {} fail", s.failed(), view::count(s.verdicts.len(), "verdict"))
        };
        let mut tile = Element::new("a")
            .attr("href", format!("#{}", s.id))
            .attr("class", format!("glance {state}"))
            .child(Element::new("span").attr("class", "t").text(s.title.clone()));
        if let Some((label, value)) = s.headline() {
            tile = tile.child(Element::new("b").text(value.clone())).child(Element::new("span").text(label.clone()));
        }
        nav.push(tile.child(Element::new("span").attr("class", "v").text(verdicts)));
    }
    nav
}

fn failing_box(report: &Report, sections: &[Section]) -> Element {
    let failed: Vec<_> = report.verdicts.iter().filter(|v| !v.pass).cloned().collect();
    let mut t = view::verdict_table("", &failed);
    // Where each failure is explained: the section that owns it.
    t.columns.push("section".into());
    t.numeric.push(false);
    for r in &mut t.rows {
        let owner = sections
            .iter()
            .find(|s| s.verdicts.iter().any(|v| !v.pass && v.scenario == r.cells[1] && v.subject == r.cells[2]));
        r.cells.push(owner.map_or_else(String::new, |s| s.title.clone()));
    }
    Element::new("section")
        .attr("id", "failing")
        .attr("class", "failing")
        .child(Element::new("h2").text(view::count(failed.len(), "failing verdict")))
        .child(table(&t))
}

fn model_box(report: &Report) -> Element {
    let m = &report.model;
    let mut dl = Element::new("dl");
    for p in &m.constants {
        dl.push(Element::new("dt").text(p.file.clone()));
        dl.push(Element::new("dd").child(provenance(p)));
    }
    Element::new("section")
        .attr("id", "model")
        .attr("class", "model")
        .child(Element::new("h2").text("This is a model"))
        .child(Element::new("p").text(m.disclaimer.clone()))
        .child(Element::new("p").text(if m.constants.is_empty() {
            "No data file was used by the selected scenarios.".to_string()
        } else {
            format!("Constants used ({}):", view::count(m.constants.len(), "data file"))
        }))
        .child(dl)
}

fn provenance(p: &Provenance) -> Element {
    let mut when = format!("as of {}", p.as_of);
    if let Some(r) = &p.region {
        when.push_str(&format!(", region {r}"));
    }
    let mut sources = Element::new("ul");
    for s in &p.sources {
        sources.push(Element::new("li").child(source(s)));
    }
    // The sources fold away (they open without a script): the box stays short, the links stay in the page.
    Element::new("div").child(Element::new("span").text(format!("{} ({when})", p.model))).child(
        Element::new("details")
            .child(Element::new("summary").text(view::count(p.sources.len(), "source")))
            .child(sources),
    )
}

/// A source as written in a data file (`Title — https://…`, `Title (https://…)`, sometimes with
/// more URLs after ` ; `): the title becomes a link to the first URL, each further URL a link of
/// its own, the rest text. Only http(s) URLs become links.
fn source(s: &str) -> Element {
    let pieces = url_pieces(s);
    let mut out = Element::new("span");
    let mut i = 0;
    let mut bracketed = false;
    // The title: the text before the first URL, its separator trimmed.
    if let (Some(Piece::Text(t)), Some(Piece::Url(u))) = (pieces.first(), pieces.get(1)) {
        bracketed = t.trim_end().ends_with('(');
        let title = t.trim().trim_end_matches(['(', '[', ':', '—', '-', ',']).trim();
        let text = if title.is_empty() { u.to_string() } else { title.to_string() };
        out = out.child(Element::new("a").attr("href", *u).attr("rel", "noreferrer").text(text));
        i = 2;
    }
    for (n, p) in pieces[i..].iter().enumerate() {
        out = match p {
            // `Title (URL), more`: the bracket went with the URL.
            Piece::Text(t) if n == 0 && bracketed => out.text(t.strip_prefix(')').unwrap_or(t)),
            Piece::Text(t) => out.text(*t),
            Piece::Url(u) => out.child(Element::new("a").attr("href", *u).attr("rel", "noreferrer").text(*u)),
        };
    }
    out
}

enum Piece<'a> {
    Text(&'a str),
    Url(&'a str),
}

/// `s` cut into text and http(s) URLs (a URL ends at whitespace, a closing bracket or a quote,
/// without trailing punctuation).
fn url_pieces(s: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = [rest.find("https://"), rest.find("http://")].into_iter().flatten().min() {
        let tail = &rest[start..];
        let end = tail.find(|c: char| c.is_whitespace() || matches!(c, ')' | ']' | '>' | '"')).unwrap_or(tail.len());
        let url = tail[..end].trim_end_matches(['.', ',', ';']);
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        out.push(Piece::Url(url));
        rest = &tail[url.len()..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

fn section(s: &Section) -> Element {
    let failed = s.failed();
    let state = if s.verdicts.is_empty() {
        None
    } else if failed == 0 {
        Some(("pass", format!("{} PASS", s.verdicts.len())))
    } else {
        Some(("fail", format!("{failed} of {} FAIL", s.verdicts.len())))
    };
    let mut h2 = Element::new("h2").text(s.title.clone());
    if let Some((class, label)) = state {
        h2 = h2.child(Element::new("span").attr("class", format!("state {class}")).text(label));
    }
    let mut out = Element::new("section")
        .attr("id", s.id)
        .attr("class", "report")
        .child(h2)
        .child(Element::new("p").attr("class", "question").text(s.question.clone()));
    if !s.facts.is_empty() {
        let mut tiles = Element::new("div").attr("class", "tiles");
        for (k, v) in &s.facts {
            tiles.push(
                Element::new("div")
                    .attr("class", "tile")
                    .child(Element::new("span").text(k.clone()))
                    .child(Element::new("b").text(v.clone())),
            );
        }
        out.push(tiles);
    }
    for c in &s.charts {
        out.push(
            Element::new("figure")
                .attr("class", "chart")
                .child(Element::new("figcaption").text(c.title()))
                .raw(c.svg()),
        );
    }
    for t in s.tables.iter().filter(|t| !t.text_only) {
        if !t.title.is_empty() {
            out.push(Element::new("h3").text(t.title.clone()));
        }
        out.push(folded_table(t));
    }
    if !s.notes.is_empty() {
        let mut ul = Element::new("ul").attr("class", "notes");
        for n in &s.notes {
            ul.push(Element::new("li").text(n.clone()));
        }
        out.push(ul);
    }
    out
}

/// Rows worth looking at are shown; a long run of passing judgements is folded into
/// `<details>` (it opens without a script), so failures and short tables stay in view.
fn folded_table(t: &Table) -> Element {
    const SHOW: usize = 12;
    let judged = t.rows.iter().all(|r| r.pass.is_some());
    let passing = t.rows.iter().filter(|r| r.pass == Some(true)).count();
    if !judged || t.rows.len() <= SHOW || passing == 0 {
        return table(t);
    }
    let (bad, good): (Vec<_>, Vec<_>) = t.rows.iter().cloned().partition(|r| r.pass == Some(false));
    let mut wrap = Element::new("div");
    if !bad.is_empty() {
        wrap.push(table(&Table { rows: bad, ..t.clone() }));
    }
    wrap.push(
        Element::new("details")
            .child(Element::new("summary").text(format!("{} passing", good.len())))
            .child(table(&Table { rows: good, ..t.clone() })),
    );
    wrap
}

fn table(t: &Table) -> Element {
    let mut head = Element::new("tr");
    for (i, c) in t.columns.iter().enumerate() {
        let numeric = t.numeric.get(i).copied().unwrap_or(false);
        let mut th = Element::new("th").attr("scope", "col");
        if numeric {
            th = th.attr("class", "num");
        }
        head.push(th.text(c.clone()));
    }
    let mut body = Element::new("tbody");
    for r in &t.rows {
        let mut tr = Element::new("tr");
        if let Some(p) = r.pass {
            tr = tr.attr("class", if p { "pass" } else { "fail" });
        }
        for (i, c) in r.cells.iter().enumerate() {
            let numeric = t.numeric.get(i).copied().unwrap_or(false);
            // The verdict column of a judged row is the one coloured by its class.
            let class = if numeric {
                "num"
            } else if r.pass.is_some() && (c == "PASS" || c == "FAIL") && i == 0 {
                "v"
            } else {
                ""
            };
            let mut td = Element::new("td");
            if !class.is_empty() {
                td = td.attr("class", class);
            }
            tr.push(td.text(c.clone()));
        }
        body.push(tr);
    }
    Element::new("div")
        .attr("class", "scroll")
        .child(Element::new("table").child(Element::new("thead").child(head)).child(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_sources_become_links() {
        let link = |s: &str| source(s).render();
        assert_eq!(
            link("Amazon EKS pricing — https://aws.amazon.com/eks/pricing/"),
            "<span><a href=\"https://aws.amazon.com/eks/pricing/\" rel=\"noreferrer\">Amazon EKS pricing</a></span>"
        );
        assert_eq!(
            link("Kubernetes HPA (https://kubernetes.io/docs/x), read 2026-01-02"),
            "<span><a href=\"https://kubernetes.io/docs/x\" rel=\"noreferrer\">Kubernetes HPA</a>, read 2026-01-02</span>"
        );
        assert_eq!(
            link("https://a.example/b."),
            "<span><a href=\"https://a.example/b\" rel=\"noreferrer\">https://a.example/b</a>.</span>"
        );
        let a = source("t \"<x>\" https://e.example/?a=1&b=2").render();
        assert_eq!(a, "<span><a href=\"https://e.example/?a=1&amp;b=2\" rel=\"noreferrer\">t \"&lt;x&gt;\"</a></span>");
        let two = source("Prices — https://a.example/p ; cross-checked https://b.example/q.").render();
        assert_eq!(
            two,
            "<span><a href=\"https://a.example/p\" rel=\"noreferrer\">Prices</a> ; cross-checked \
             <a href=\"https://b.example/q\" rel=\"noreferrer\">https://b.example/q</a>.</span>"
        );
        assert_eq!(source("javascript:alert(1)").render(), "<span>javascript:alert(1)</span>");
    }
}
