//! The cost section: the monthly bill by category as stacked bars (at the expected size, with
//! every spot node priced on-demand, and at the node groups' max), the largest lines, the spot
//! saving, and every line with its arithmetic.

use std::collections::BTreeMap;

use crate::Report;
use crate::cost::{Category, CostReport};
use crate::report::svg::{Bar, Segment, StackRow, Tone};
use crate::report::view::{Chart, Section, Table, serde_name, usd, verdict_table};

/// Lines drawn in the "largest items" chart; the table has them all.
const LARGEST: usize = 12;

fn stack(label: &str, by_category: &BTreeMap<Category, f64>) -> StackRow {
    StackRow {
        label: label.into(),
        segments: by_category.iter().map(|(c, v)| Segment { category: serde_name(c), value: *v, tone: None }).collect(),
    }
}

pub fn cost(r: &CostReport, _report: &Report) -> Section {
    let verdicts = r.verdicts();
    let unit = format!("{} / month", r.currency);
    let at_max: BTreeMap<Category, f64> = r.lines.iter().fold(BTreeMap::new(), |mut m, l| {
        *m.entry(l.category).or_default() += l.monthly_at_max;
        m
    });
    let mut rows = vec![stack("expected (desired size)", &r.by_category)];
    if r.spot.declared && r.spot.at_desired.spot_nodes > 0 {
        // The same nodes all on-demand: compute grows by exactly the spot saving.
        let mut on_demand = r.by_category.clone();
        *on_demand.entry(Category::Compute).or_default() += r.spot.at_desired.saving_monthly;
        rows.push(stack("same, spot priced on-demand", &on_demand));
    }
    rows.push(stack("at the node groups' max", &at_max));

    let mut largest: Vec<_> = r.lines.iter().collect();
    largest.sort_by(|a, b| b.monthly.total_cmp(&a.monthly).then_with(|| a.item.cmp(&b.item)));
    let bars: Vec<Bar> = largest
        .iter()
        .take(LARGEST)
        .map(|l| Bar {
            label: l.item.clone(),
            value: l.monthly,
            tone: Tone::Series(r.by_category.keys().position(|c| *c == l.category).unwrap_or(0)),
            note: usd(l.monthly),
        })
        .collect();

    let mut lines = Table::new(
        "Cost lines",
        &[("category", false), ("item", false), ("monthly", true), ("at max", true), ("basis", false)],
    );
    for l in &r.lines {
        lines.row(
            vec![serde_name(&l.category), l.item.clone(), usd(l.monthly), usd(l.monthly_at_max), l.basis.clone()],
            None,
        );
    }
    lines.row(vec!["".into(), "total".into(), usd(r.total_monthly), usd(r.total_monthly_at_max), String::new()], None);
    let mut by_cat = Table::new("By category", &[("category", false), ("monthly", true), ("share", true)]);
    for (c, v) in &r.by_category {
        let share = if r.total_monthly > 0.0 { v / r.total_monthly } else { 0.0 };
        by_cat.row(vec![serde_name(c), usd(*v), crate::report::view::pct(share)], None);
    }
    by_cat.text_only = true;
    let mut spot = Table::new(
        "Spot mix",
        &[
            ("size", false),
            ("spot nodes", true),
            ("spot price", true),
            ("on-demand price", true),
            ("saving", true),
            ("of compute", true),
        ],
    );
    for (label, f) in [("desired", &r.spot.at_desired), ("max", &r.spot.at_max)] {
        spot.row(
            vec![
                label.into(),
                f.spot_nodes.to_string(),
                usd(f.spot_monthly),
                usd(f.on_demand_equivalent_monthly),
                usd(f.saving_monthly),
                format!("{} %", crate::report::svg::num(f.saving_percent_of_compute)),
            ],
            None,
        );
    }
    let mut tables = vec![by_cat, lines];
    if r.spot.declared {
        tables.push(spot);
    }
    if !r.unpriced.is_empty() {
        let mut t = Table::new("Not priced", &[("item", false), ("reason", false)]);
        for u in &r.unpriced {
            t.row(vec![u.item.clone(), u.reason.clone()], Some(false));
        }
        tables.push(t);
    }
    tables.push(verdict_table("Verdicts", &verdicts));

    let mut notes = r.notes.clone();
    if r.spot.declared {
        notes.push(format!(
            "Spot priced at {} of on-demand: {}",
            crate::report::view::pct(r.spot.spot_fraction),
            r.spot.basis
        ));
    }
    Section {
        id: "cost",
        title: "Monthly cost".into(),
        question: format!(
            "What does {} cost per month at list prices ({}, as of {}), and what does the spot mix save?",
            r.environment, r.region, r.prices_as_of
        ),
        facts: vec![
            ("expected monthly".into(), usd(r.total_monthly)),
            ("at max size".into(), usd(r.total_monthly_at_max)),
            (
                "spot saving (desired)".into(),
                format!(
                    "{} ({} %)",
                    usd(r.spot.at_desired.saving_monthly),
                    crate::report::svg::num(r.spot.at_desired.saving_percent_of_compute)
                ),
            ),
            (
                "spot saving (max)".into(),
                format!(
                    "{} ({} %)",
                    usd(r.spot.at_max.saving_monthly),
                    crate::report::svg::num(r.spot.at_max.saving_percent_of_compute)
                ),
            ),
            ("region, prices as of".into(), format!("{}, {}", r.region, r.prices_as_of)),
            ("items not priced".into(), r.unpriced.len().to_string()),
        ],
        charts: vec![
            Chart::Stacked { title: format!("Monthly cost by category ({unit})"), unit: unit.clone(), rows, fmt: usd },
            Chart::Bars { title: format!("Largest cost lines ({unit})"), unit, bars, target: None },
        ],
        tables,
        verdicts,
        notes,
    }
}
