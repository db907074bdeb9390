//! The charts' unit tests: well-formed output, escaping, and marks proportional to values.

use super::*;

/// The `width` of every `<rect>` inside `svg` whose `fill` is `fill`, in document order.
fn rect_widths(svg: &str, fill: &str) -> Vec<f64> {
    svg.split("<rect ")
        .skip(1)
        .filter(|r| r.contains(&format!("fill=\"{fill}\"")))
        .filter_map(|r| r.split("width=\"").nth(1)?.split('"').next()?.parse().ok())
        .collect()
}
#[test]
fn bar_width_is_proportional_to_value() {
    let bars = [
        Bar { label: "a".into(), value: 10.0, tone: Tone::Pass, note: String::new() },
        Bar { label: "b".into(), value: 25.0, tone: Tone::Pass, note: String::new() },
        Bar { label: "c <&\"".into(), value: 50.0, tone: Tone::Fail, note: "50 / 60".into() },
    ];
    let svg = hbar_chart("Load & <share>", "%", &bars, Some(&Target::line(80.0, "80 %")));
    well_formed(&svg).expect("well-formed");
    assert!(svg.contains("<title>Load &amp; &lt;share&gt;</title>"));
    assert!(svg.contains("c &lt;&amp;\""), "label escaped in text: {svg}");
    let pass = rect_widths(&svg, PASS);
    let fail = rect_widths(&svg, FAIL);
    assert_eq!(pass.len(), 2);
    assert_eq!(fail.len(), 1);
    // Axis 0–100 (target 80 included): widths scale with values, 10 : 25 : 50.
    assert!((pass[1] / pass[0] - 2.5).abs() < 0.01, "{pass:?}");
    assert!((fail[0] / pass[0] - 5.0).abs() < 0.01, "{pass:?} {fail:?}");
    assert!(svg.contains("class=\"target\""));
    assert!(svg.contains(">50 / 60<"));
}

#[test]
fn clipping_keeps_the_end() {
    assert_eq!(clip("short", 38), "short");
    // 19 characters kept: 6 from the start, 13 from the end.
    assert_eq!(clip("module.database.aws_db_instance.replica", 20), "module…tance.replica");
    assert_eq!(clip("module.database.aws_db_instance.replica", 20).chars().count(), 20);
}

#[test]
fn ticks_keep_the_digits_their_step_needs() {
    assert_eq!(tick(20.0, 20.0), "20");
    assert_eq!(tick(0.3, 0.1), "0.3");
    assert_eq!(tick(0.004, 0.002), "0.004");
    assert_eq!(tick(0.0, 0.002), "0");
    let (end, step) = nice_axis(0.01, 5);
    assert_eq!(tick(end, step), "0.01");
}

#[test]
fn nice_axes() {
    assert_eq!(nice_axis(0.0, 5), (1.0, 1.0));
    assert_eq!(nice_axis(80.0, 5), (80.0, 20.0));
    assert_eq!(nice_axis(97.0, 5), (100.0, 20.0));
    assert_eq!(nice_axis(120.0, 6), (120.0, 20.0));
    let (end, step) = nice_axis(0.3, 3);
    assert!((end - 0.3).abs() < 1e-12 && (step - 0.1).abs() < 1e-12, "{end} {step}");
    assert_eq!(nice_axis(3.0, 5), (3.0, 1.0));
}

#[test]
fn stacked_segments_add_up_and_share_colours() {
    let row = |label: &str, a: f64, b: f64| StackRow {
        label: label.into(),
        segments: vec![
            Segment { category: "nodes".into(), value: a, tone: None },
            Segment { category: "NAT".into(), value: b, tone: None },
        ],
    };
    let svg = stacked_bar_chart(
        "Monthly cost",
        "USD",
        &[row("on-demand", 300.0, 100.0), row("with spot", 150.0, 100.0)],
        num,
    );
    well_formed(&svg).expect("well-formed");
    let nodes = rect_widths(&svg, Tone::Series(0).colour());
    let nat = rect_widths(&svg, Tone::Series(1).colour());
    // Two segments each plus the legend swatch (12 wide).
    assert_eq!(nodes.len(), 3);
    assert!((nodes[0] / nodes[1] - 2.0).abs() < 0.01);
    assert!((nat[0] - nat[1]).abs() < 0.01);
    assert!((nodes[0] / nat[0] - 3.0).abs() < 0.01);
    assert!(svg.contains(">400<") && svg.contains(">250<"));
}

#[test]
fn step_line_chart_has_axes_and_targets() {
    let s = Series {
        label: "ready".into(),
        points: vec![(0.0, 2.0), (30.0, 4.0), (95.0, 20.0)],
        step: true,
        tone: Tone::Series(0),
        marks: vec![Mark { x: 30.0, y: 4.0, label: "first <capacity>".into(), tone: Tone::Pass }],
    };
    let svg = line_chart(
        "Capacity",
        "s",
        "pods",
        &[s],
        Some(&Target::line(120.0, "2 min")),
        Some(&Target::line(20.0, "needed")),
    );
    well_formed(&svg).expect("well-formed");
    // x axis 0..120 step 20 on 56..590: 30 s is at 56 + 534 × 30/120 = 189.5.
    assert!(svg.contains(" H189.5 V"), "{svg}");
    assert!(svg.contains(">2 min<") && svg.contains(">120<"));
    assert_eq!(svg.matches("class=\"target\"").count(), 2);
    // The mark sits on the point (30 s → 189.5) and its label is escaped.
    assert!(svg.contains("<circle cx=\"189.5\""), "{svg}");
    assert!(svg.contains("first &lt;capacity&gt;"));
}

#[test]
fn gantt_places_tasks_on_the_time_axis() {
    let tasks = [
        Task { label: "vpc".into(), start: 0.0, finish: 3.0, critical: true },
        Task { label: "eks".into(), start: 3.0, finish: 15.0, critical: true },
        Task { label: "s3".into(), start: 0.0, finish: 1.0, critical: false },
    ];
    let svg = gantt_chart("Critical path", "min", &tasks, Some(&Target::line(30.0, "30 min")));
    well_formed(&svg).expect("well-formed");
    let crit = rect_widths(&svg, NEUTRAL);
    assert_eq!(crit.len(), 2);
    assert!((crit[1] / crit[0] - 4.0).abs() < 0.01, "{crit:?}");
    assert!(svg.contains("(critical path)"));
}

#[test]
fn heat_grid_writes_every_count() {
    let grid = Grid {
        rows: vec!["shop/api".into(), "shop/db".into()],
        cols: vec!["us-east-1a".into(), "us-east-1b".into()],
        cells: vec![vec![2.0, 1.0], vec![2.0, 0.0]],
        flagged: vec![false, true],
    };
    let svg = heat_grid("Pods per AZ", &grid);
    well_formed(&svg).expect("well-formed");
    assert_eq!(svg.matches("<rect ").count(), 4);
    assert!(svg.contains("✗ shop/db"));
    assert!(svg.contains("shop/db in us-east-1b: 0"));
    assert_eq!(blend("#000000", "#ffffff", 0.5), "#808080");
}

#[test]
fn output_is_deterministic_and_empty_inputs_do_not_break_it() {
    let a = hbar_chart("x", "", &[], None);
    assert_eq!(a, hbar_chart("x", "", &[], None));
    well_formed(&a).expect("empty bar chart");
    well_formed(&stacked_bar_chart("x", "", &[], num)).expect("empty stack");
    well_formed(&line_chart("x", "", "", &[], None, None)).expect("empty lines");
    well_formed(&gantt_chart("x", "", &[], None)).expect("empty gantt");
    well_formed(&heat_grid("x", &Grid::default())).expect("empty grid");
}
