//! Chart primitives: each chart is one `<svg>` built with [`super::xml::Element`], sized by its
//! `viewBox` only (the page scales it), starting with a `<title>` (what screen readers announce
//! and browsers show on hover), carrying `role="img"`, and writing its values as text beside the
//! marks so it reads without colour. Colours are the Okabe–Ito palette, chosen to stay
//! distinguishable with the common colour-vision deficiencies.

use std::fmt::Write as _;

pub use super::xml::{Element, num, well_formed};

/// What a mark means, which decides its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Pass,
    Fail,
    /// Neither: a quantity with no verdict attached.
    Neutral,
    /// The n-th series or category (cycles through the palette).
    Series(usize),
}

/// Category colours: Okabe–Ito's blue, orange, sky blue and pink, then Paul Tol's muted indigo,
/// teal, wine and olive, a slate and a purple. The pass green and the fail vermillion are left
/// out, so a category never reads as a verdict; black is the axes' colour and yellow is
/// unreadable on white.
const PALETTE: [&str; 10] =
    ["#0072B2", "#E69F00", "#56B4E9", "#CC79A7", "#332288", "#44AA99", "#882255", "#999933", "#6f7f8f", "#AA4499"];
pub const PASS: &str = "#009E73";
pub const FAIL: &str = "#D55E00";
const NEUTRAL: &str = "#0072B2";
const INK: &str = "#1f2933";
const GRID: &str = "#d9dee3";
const TARGET: &str = "#b3261e";
/// A target band's shade: the target colour, very light.
const BAND: &str = "#f6e3e1";

impl Tone {
    pub fn colour(self) -> &'static str {
        match self {
            Tone::Pass => PASS,
            Tone::Fail => FAIL,
            Tone::Neutral => NEUTRAL,
            Tone::Series(i) => PALETTE[i % PALETTE.len()],
        }
    }
}

/// A reference value drawn as a dashed line across the plot: the 2-minute scaling target, the
/// 30-minute provisioning target, the 80 % utilisation ceiling.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub value: f64,
    pub label: String,
    /// The lower end of a band ending at `value` (the 70–80 % utilisation band), shaded.
    pub band_from: Option<f64>,
}

impl Target {
    pub fn line(value: f64, label: impl Into<String>) -> Target {
        Target { value, label: label.into(), band_from: None }
    }
}

/// Width of the whole chart in viewBox units; the page scales it to the column.
const W: f64 = 760.0;
const FONT: f64 = 12.0;
/// Average advance of a character at [`FONT`] in a sans-serif face, for sizing label columns
/// (an estimate: SVG has no text measurement without a script).
const CHAR_W: f64 = 7.2;
const ROW: f64 = 24.0;
const BAR: f64 = 16.0;
const LABEL_MAX_CHARS: usize = 38;

/// `s` cut to `max` characters with an ellipsis in the middle, keeping more of the end: the end
/// of `module.database.aws_db_instance.replica` or `namespace/workload` is what tells rows
/// apart. The full text stays in the mark's `<title>`.
pub fn clip(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max || max < 5 {
        return s.to_string();
    }
    let head = (max - 1) / 3;
    let tail = max - 1 - head;
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

fn label_width(labels: impl Iterator<Item = usize>) -> f64 {
    let longest = labels.map(|n| n.min(LABEL_MAX_CHARS)).max().unwrap_or(0);
    (longest as f64 * CHAR_W + 12.0).clamp(60.0, LABEL_MAX_CHARS as f64 * CHAR_W + 12.0)
}

/// The `<svg>` root with its accessible name; `desc` says in words what the chart shows.
fn frame(title: &str, desc: &str, height: f64) -> Element {
    Element::new("svg")
        .attr("xmlns", "http://www.w3.org/2000/svg")
        .attr("viewBox", format!("0 0 {} {}", num(W), num(height)))
        .attr("role", "img")
        .attr("aria-label", title)
        .attr("class", "chart")
        .attr("font-family", "system-ui, -apple-system, 'Segoe UI', sans-serif")
        .num("font-size", FONT)
        .child(Element::new("title").text(title))
        .child(Element::new("desc").text(desc))
}

fn text(x: f64, y: f64, anchor: &str, t: &str) -> Element {
    Element::new("text").num("x", x).num("y", y).attr("text-anchor", anchor).attr("fill", INK).text(t)
}

/// A white outline under the glyphs, so a label stays legible where it crosses a grid or target line.
fn halo(t: Element) -> Element {
    t.attr("stroke", "#ffffff").num("stroke-width", 3.0).attr("paint-order", "stroke").attr("stroke-linejoin", "round")
}

fn line(x1: f64, y1: f64, x2: f64, y2: f64, stroke: &str) -> Element {
    Element::new("line").num("x1", x1).num("y1", y1).num("x2", x2).num("y2", y2).attr("stroke", stroke)
}

/// A tick label: as many decimals as the step needs (a 0.005 step would print `0` everywhere
/// with [`num`]'s two), trailing zeros dropped.
pub fn tick(v: f64, step: f64) -> String {
    if !(step.is_finite() && step > 0.0 && step < 0.01) {
        return num(v);
    }
    let decimals = (-step.log10().floor()).clamp(0.0, 9.0) as usize;
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    if s == "-0" { "0".into() } else { s }
}

/// A tick step of 1, 2 or 5 × 10ⁿ giving about `ticks` intervals up to `max`, and the axis end
/// (the first multiple of the step at or above `max`).
pub fn nice_axis(max: f64, ticks: usize) -> (f64, f64) {
    if !(max.is_finite() && max > 0.0) {
        return (1.0, 1.0);
    }
    let raw = max / ticks.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let step = mag
        * if f <= 1.0 {
            1.0
        } else if f <= 2.0 {
            2.0
        } else if f <= 5.0 {
            5.0
        } else {
            10.0
        };
    // A hair of tolerance: 0.3 / 0.1 is 2.9999999999999996, and the axis should end at 0.3.
    let end = ((max / step) - 1e-9).ceil().max(1.0) * step;
    (end, step)
}

/// Vertical grid lines with tick labels under a horizontal value axis from `x0` (value 0) to
/// `x1` (value `end`), between `top` and `bottom`.
/// The plot area of a chart, in viewBox units.
#[derive(Debug, Clone, Copy)]
struct Plot {
    x0: f64,
    x1: f64,
    top: f64,
    bottom: f64,
}

fn x_axis(g: &mut Element, plot: Plot, end: f64, step: f64, unit: &str) {
    let Plot { x0, x1, top, bottom } = plot;
    let n = (end / step).round() as usize;
    for i in 0..=n {
        let v = step * i as f64;
        let x = x0 + (x1 - x0) * v / end;
        g.push(line(x, top, x, bottom, GRID));
        g.push(text(x, bottom + 14.0, "middle", &tick(v, step)));
    }
    g.push(line(x0, bottom, x1, bottom, INK));
    if !unit.is_empty() {
        // Right of the last tick's label, on its line.
        let last = num(step * n as f64).chars().count() as f64 * CHAR_W / 2.0;
        g.push(text(x1 + last + 8.0, bottom + 14.0, "start", unit));
    }
}

/// A dashed vertical target line at `x` with its label above the plot.
fn draw_x_target(g: &mut Element, x: f64, top: f64, bottom: f64, label: &str) {
    g.push(
        line(x, top - 4.0, x, bottom, TARGET)
            .attr("stroke-dasharray", "6 4")
            .num("stroke-width", 2.0)
            .attr("class", "target"),
    );
    g.push(halo(text(x, top - 8.0, "middle", label).attr("fill", TARGET).attr("font-weight", "600")));
}

/// One bar of [`hbar_chart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub tone: Tone,
    /// Printed right of the bar (the value with its context: `14 / 20 pods`); the value itself
    /// when empty.
    pub note: String,
}

/// Horizontal bars on a shared value axis starting at 0: a bar's width is proportional to its
/// value. `target` draws a dashed line (an 80 % ceiling, a declared RPO).
pub fn hbar_chart(title: &str, unit: &str, bars: &[Bar], target: Option<&Target>) -> String {
    let lw = label_width(bars.iter().map(|b| b.label.chars().count()));
    let note_w = 130.0;
    let (x0, x1) = (lw, W - note_w);
    let top = if target.is_some() { 30.0 } else { 12.0 };
    let bottom = top + ROW * bars.len().max(1) as f64;
    let max = bars.iter().map(|b| b.value).chain(target.map(|t| t.value)).fold(0.0, f64::max);
    let (end, step) = nice_axis(max, 5);
    let desc = format!("{} bars; values in {}", bars.len(), if unit.is_empty() { "units" } else { unit });
    let mut svg = frame(title, &desc, bottom + 36.0);
    let mut g = Element::new("g").attr("class", "axis");
    x_axis(&mut g, Plot { x0, x1, top, bottom }, end, step, unit);
    svg.push(g);
    if let Some((t, from)) = target.and_then(|t| Some((t, t.band_from?))) {
        let (a, b) = (x0 + (x1 - x0) * from.max(0.0) / end, x0 + (x1 - x0) * t.value / end);
        svg.push(
            Element::new("rect")
                .num("x", a.min(b))
                .num("y", top)
                .num("width", (b - a).abs())
                .num("height", bottom - top)
                .attr("fill", BAND)
                .attr("class", "band"),
        );
    }
    for (i, b) in bars.iter().enumerate() {
        let y = top + ROW * i as f64;
        let w = (x1 - x0) * b.value.max(0.0) / end;
        let note = if b.note.is_empty() { num(b.value) } else { b.note.clone() };
        svg.push(
            Element::new("g")
                .attr("class", "bar")
                .child(Element::new("title").text(format!("{}: {note}", b.label)))
                .child(text(x0 - 6.0, y + ROW / 2.0 + 4.0, "end", &clip(&b.label, LABEL_MAX_CHARS)))
                .child(
                    Element::new("rect")
                        .num("x", x0)
                        .num("y", y + (ROW - BAR) / 2.0)
                        .num("width", w)
                        .num("height", BAR)
                        .attr("fill", b.tone.colour()),
                )
                .child(halo(text(x0 + w + 6.0, y + ROW / 2.0 + 4.0, "start", &note))),
        );
    }
    if let Some(t) = target {
        draw_x_target(&mut svg, x0 + (x1 - x0) * t.value / end, top, bottom, &t.label);
    }
    svg.render()
}

/// One part of a [`StackRow`].
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// The category (one colour per category across all rows, in first-seen order).
    pub category: String,
    pub value: f64,
    /// A colour that means something (pass / fail); by category when `None`.
    pub tone: Option<Tone>,
}

/// One stacked bar.
#[derive(Debug, Clone, PartialEq)]
pub struct StackRow {
    pub label: String,
    pub segments: Vec<Segment>,
}

/// Horizontal stacked bars on a shared axis, with a legend: a cost breakdown (control plane,
/// nodes, NAT, databases …), or on-demand vs spot side by side.
/// `fmt` prints the values written on the segments and the totals (money, counts).
pub fn stacked_bar_chart(title: &str, unit: &str, rows: &[StackRow], fmt: fn(f64) -> String) -> String {
    let mut categories: Vec<&str> = Vec::new();
    let mut tones: Vec<Tone> = Vec::new();
    for s in rows.iter().flat_map(|r| &r.segments) {
        if !categories.contains(&s.category.as_str()) {
            tones.push(s.tone.unwrap_or(Tone::Series(categories.len())));
            categories.push(&s.category);
        }
    }
    let lw = label_width(rows.iter().map(|r| r.label.chars().count()));
    // Room on the right for the row totals and the axis unit.
    let (x0, x1) = (lw, W - 150.0);
    let top = 12.0;
    let row_h = 34.0;
    let bottom = top + row_h * rows.len().max(1) as f64;
    let total = |r: &StackRow| r.segments.iter().map(|s| s.value.max(0.0)).sum::<f64>();
    let (end, step) = nice_axis(rows.iter().map(total).fold(0.0, f64::max), 5);
    // Legend: one swatch per category, wrapped into rows of what fits the width.
    let mut legend = Element::new("g").attr("class", "legend");
    let (mut lx, mut ly) = (x0, bottom + 44.0);
    for (i, c) in categories.iter().enumerate() {
        let label = clip(c, 28);
        let w = 18.0 + label.chars().count() as f64 * CHAR_W + 16.0;
        if lx + w > W && lx > x0 {
            lx = x0;
            ly += 18.0;
        }
        legend.push(
            Element::new("rect")
                .num("x", lx)
                .num("y", ly - 10.0)
                .num("width", 12.0)
                .num("height", 12.0)
                .attr("fill", tones[i].colour()),
        );
        legend.push(text(lx + 16.0, ly, "start", &label));
        lx += w;
    }
    let desc = format!("{} stacked bars of {} categories; values in {unit}", rows.len(), categories.len());
    let mut svg = frame(title, &desc, ly + 14.0);
    let mut g = Element::new("g").attr("class", "axis");
    x_axis(&mut g, Plot { x0, x1, top, bottom }, end, step, unit);
    svg.push(g);
    for (i, r) in rows.iter().enumerate() {
        let y = top + row_h * i as f64 + (row_h - 22.0) / 2.0;
        let mut bar = Element::new("g")
            .attr("class", "stack")
            .child(Element::new("title").text(format!("{}: {} {unit}", r.label, fmt(total(r)))))
            .child(text(x0 - 6.0, y + 15.0, "end", &clip(&r.label, LABEL_MAX_CHARS)));
        let mut x = x0;
        for s in &r.segments {
            let w = (x1 - x0) * s.value.max(0.0) / end;
            let colour = s
                .tone
                .unwrap_or_else(|| Tone::Series(categories.iter().position(|c| *c == s.category).unwrap_or(0)))
                .colour();
            bar.push(
                Element::new("rect")
                    .num("x", x)
                    .num("y", y)
                    .num("width", w)
                    .num("height", 22.0)
                    .attr("fill", colour)
                    .attr("stroke", "#ffffff")
                    .child(Element::new("title").text(format!("{}: {} {unit}", s.category, fmt(s.value)))),
            );
            // The value inside the segment when it fits; the legend and the tooltip otherwise.
            let v = fmt(s.value);
            if w > v.chars().count() as f64 * CHAR_W + 8.0 {
                bar.push(text(x + w / 2.0, y + 15.0, "middle", &v).attr("fill", "#ffffff"));
            }
            x += w;
        }
        bar.push(text(x + 6.0, y + 15.0, "start", &fmt(total(r))).attr("font-weight", "600"));
        svg.push(bar);
    }
    svg.push(legend);
    svg.render()
}

/// One line of [`line_chart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    /// (x, y), in increasing x.
    pub points: Vec<(f64, f64)>,
    /// Drawn as a step function (the value holds until the next point): replicas and nodes
    /// change in steps, never gradually.
    pub step: bool,
    pub tone: Tone,
    /// Moments marked on the line (the first new capacity Ready), drawn as dots with a label.
    pub marks: Vec<Mark>,
}

/// A labelled dot on a [`Series`].
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub x: f64,
    pub y: f64,
    pub label: String,
    pub tone: Tone,
}

/// Lines (or steps) over a shared x and y axis, with optional dashed targets: a vertical one
/// (the 120 s scaling target) and a horizontal one (the capacity needed).
pub fn line_chart(
    title: &str,
    x_unit: &str,
    y_unit: &str,
    series: &[Series],
    x_target: Option<&Target>,
    y_target: Option<&Target>,
) -> String {
    let (x0, x1) = (56.0, W - 170.0);
    let (top, bottom) = (30.0, 250.0);
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let (x_end, x_step) = nice_axis(xs.chain(x_target.map(|t| t.value)).fold(0.0, f64::max), 6);
    // Headroom above the highest value, so a line at the top stays clear of the frame and labels.
    let (y_end, y_step) = nice_axis(ys.chain(y_target.map(|t| t.value)).fold(0.0, f64::max) * 1.12, 5);
    let px = |x: f64| x0 + (x1 - x0) * x.max(0.0) / x_end;
    let py = |y: f64| bottom - (bottom - top) * y.max(0.0) / y_end;
    let desc = format!("{} series; x in {x_unit}, y in {y_unit}", series.len());
    let mut svg = frame(title, &desc, bottom + 40.0);
    let mut g = Element::new("g").attr("class", "axis");
    x_axis(&mut g, Plot { x0, x1, top, bottom }, x_end, x_step, x_unit);
    let n = (y_end / y_step).round() as usize;
    for i in 0..=n {
        let v = y_step * i as f64;
        g.push(line(x0, py(v), x1, py(v), GRID));
        g.push(text(x0 - 6.0, py(v) + 4.0, "end", &tick(v, y_step)));
    }
    g.push(line(x0, top, x0, bottom, INK));
    // At the far left, clear of a target label centred near the start of the x axis.
    g.push(text(4.0, top - 14.0, "start", y_unit));
    svg.push(g);
    if let Some(t) = y_target {
        svg.push(
            line(x0, py(t.value), x1, py(t.value), TARGET).attr("stroke-dasharray", "2 3").attr("class", "target"),
        );
        svg.push(halo(text(x1 - 4.0, py(t.value) - 4.0, "end", &t.label).attr("fill", TARGET)));
    }
    for (i, s) in series.iter().enumerate() {
        let mut d = String::new();
        for (j, &(x, y)) in s.points.iter().enumerate() {
            if j == 0 {
                let _ = write!(d, "M{} {}", num(px(x)), num(py(y)));
            } else if s.step {
                let _ = write!(d, " H{} V{}", num(px(x)), num(py(y)));
            } else {
                let _ = write!(d, " L{} {}", num(px(x)), num(py(y)));
            }
        }
        let colour = s.tone.colour();
        let mut g = Element::new("g").attr("class", "series").child(Element::new("title").text(s.label.clone())).child(
            Element::new("path").attr("d", d).attr("fill", "none").attr("stroke", colour).num("stroke-width", 2.5),
        );
        // Legend at the right, one line per series, at the height of its last point when they
        // do not collide, so the label sits at the end of its line.
        let ly = top + 8.0 + 16.0 * i as f64;
        g.push(
            Element::new("rect")
                .num("x", x1 + 8.0)
                .num("y", ly - 9.0)
                .num("width", 10.0)
                .num("height", 10.0)
                .attr("fill", colour),
        );
        g.push(text(x1 + 22.0, ly, "start", &clip(&s.label, 20)));
        svg.push(g);
    }
    if let Some(t) = x_target {
        draw_x_target(&mut svg, px(t.value), top, bottom, &t.label);
    }
    // Marks last, above the lines and the target.
    for m in series.iter().flat_map(|s| &s.marks) {
        let (x, y) = (px(m.x), py(m.y));
        svg.push(
            Element::new("g")
                .attr("class", "mark")
                .child(Element::new("title").text(m.label.clone()))
                .child(
                    Element::new("circle")
                        .num("cx", x)
                        .num("cy", y)
                        .num("r", 5.0)
                        .attr("fill", m.tone.colour())
                        .attr("stroke", "#ffffff")
                        .num("stroke-width", 1.5),
                )
                .child(halo(
                    text(x + 8.0, y + 16.0, "start", &m.label).attr("fill", m.tone.colour()).attr("font-weight", "600"),
                )),
        );
    }
    svg.render()
}

/// One bar of [`gantt_chart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub label: String,
    pub start: f64,
    pub finish: f64,
    /// On the critical path (drawn in the strong colour).
    pub critical: bool,
}

/// Start–finish bars on a time axis, one row per task, with a dashed target (the 30-minute
/// provisioning target).
pub fn gantt_chart(title: &str, unit: &str, tasks: &[Task], target: Option<&Target>) -> String {
    let lw = label_width(tasks.iter().map(|t| t.label.chars().count()));
    let (x0, x1) = (lw, W - 70.0);
    let top = 30.0;
    let bottom = top + ROW * tasks.len().max(1) as f64;
    let max = tasks.iter().map(|t| t.finish).chain(target.map(|t| t.value)).fold(0.0, f64::max);
    let (end, step) = nice_axis(max, 6);
    let px = |v: f64| x0 + (x1 - x0) * v.max(0.0) / end;
    let critical = tasks.iter().filter(|t| t.critical).count();
    let desc = format!("{} tasks, {critical} on the critical path; time in {unit}", tasks.len());
    let mut svg = frame(title, &desc, bottom + 40.0);
    let mut g = Element::new("g").attr("class", "axis");
    x_axis(&mut g, Plot { x0, x1, top, bottom }, end, step, unit);
    svg.push(g);
    for (i, t) in tasks.iter().enumerate() {
        let y = top + ROW * i as f64;
        let (a, b) = (px(t.start), px(t.finish.max(t.start)));
        // The critical path in the strong blue, the rest in grey: red stays reserved for failures.
        let colour = if t.critical { NEUTRAL } else { "#aab7c4" };
        svg.push(
            Element::new("g")
                .attr("class", if t.critical { "task critical" } else { "task" })
                .child(Element::new("title").text(format!(
                    "{}: {}–{} {unit}{}",
                    t.label,
                    num(t.start),
                    num(t.finish),
                    if t.critical { " (critical path)" } else { "" }
                )))
                .child(text(x0 - 6.0, y + ROW / 2.0 + 4.0, "end", &clip(&t.label, LABEL_MAX_CHARS)))
                .child(
                    Element::new("rect")
                        .num("x", a)
                        .num("y", y + (ROW - BAR) / 2.0)
                        .num("width", (b - a).max(1.0))
                        .num("height", BAR)
                        .num("rx", 2.0)
                        .attr("fill", colour),
                )
                .child(halo(text(b + 4.0, y + ROW / 2.0 + 4.0, "start", &num(t.finish)))),
        );
    }
    if let Some(t) = target {
        draw_x_target(&mut svg, px(t.value), top, bottom, &t.label);
    }
    svg.render()
}

/// Counts per row and column: pods of each workload per availability zone.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Grid {
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    /// `cells[row][col]`.
    pub cells: Vec<Vec<f64>>,
    /// Rows to draw as failing (their label in the failure colour, marked ✗).
    pub flagged: Vec<bool>,
}

/// A heat grid: a table of counts whose cells darken with the count, each count written in its
/// cell (the colour only helps the eye find the crowded cells).
pub fn heat_grid(title: &str, grid: &Grid) -> String {
    let lw = label_width(grid.rows.iter().map(|r| r.chars().count() + 2));
    let cols = grid.cols.len().max(1) as f64;
    let cell_w = ((W - lw - 8.0) / cols).min(110.0);
    let (top, cell_h) = (24.0, 20.0);
    let max = grid.cells.iter().flatten().copied().fold(0.0, f64::max);
    let height = top + cell_h * grid.rows.len().max(1) as f64 + 8.0;
    let desc = format!("{} rows by {} columns; each cell holds its count", grid.rows.len(), grid.cols.len());
    let mut svg = frame(title, &desc, height);
    for (j, c) in grid.cols.iter().enumerate() {
        svg.push(text(lw + cell_w * (j as f64 + 0.5), top - 8.0, "middle", &clip(c, 16)).attr("font-weight", "600"));
    }
    for (i, r) in grid.rows.iter().enumerate() {
        let y = top + cell_h * i as f64;
        let flagged = grid.flagged.get(i).copied().unwrap_or(false);
        let label = if flagged { format!("✗ {}", clip(r, LABEL_MAX_CHARS)) } else { clip(r, LABEL_MAX_CHARS) };
        let mut row = Element::new("g")
            .attr("class", if flagged { "row flagged" } else { "row" })
            .child(text(lw - 6.0, y + 14.0, "end", &label).attr("fill", if flagged { FAIL } else { INK }));
        for j in 0..grid.cols.len() {
            let v = grid.cells.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0.0);
            let share = if max > 0.0 { v / max } else { 0.0 };
            // From the page's background to the palette's blue; white text on the dark half.
            let fill = blend("#f4f6f8", "#0072B2", share);
            let ink = if share > 0.55 { "#ffffff" } else { INK };
            row.push(
                Element::new("rect")
                    .num("x", lw + cell_w * j as f64)
                    .num("y", y)
                    .num("width", cell_w - 2.0)
                    .num("height", cell_h - 2.0)
                    .attr("fill", fill)
                    .child(Element::new("title").text(format!("{r} in {}: {}", grid.cols[j], num(v)))),
            );
            row.push(text(lw + cell_w * (j as f64 + 0.5), y + 13.0, "middle", &num(v)).attr("fill", ink));
        }
        svg.push(row);
    }
    svg.render()
}

/// The colour `t` of the way from `a` to `b` (`#rrggbb`).
fn blend(a: &str, b: &str, t: f64) -> String {
    let rgb = |s: &str| {
        let v = u32::from_str_radix(s.trim_start_matches('#'), 16).unwrap_or(0);
        [(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]
    };
    let (a, b, t) = (rgb(a), rgb(b), t.clamp(0.0, 1.0));
    let mix = |i: usize| (f64::from(a[i]) + (f64::from(b[i]) - f64::from(a[i])) * t).round() as u32;
    format!("#{:02x}{:02x}{:02x}", mix(0), mix(1), mix(2))
}

#[cfg(test)]
mod tests;
