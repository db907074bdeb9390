//! Cron intervals: the longest gap between two runs of a schedule, which bounds the data a
//! backup schedule can lose. Used by the Velero schedules (render) and the recovery model
//! (`cerverus simulate`).

use std::collections::BTreeSet;

/// The longest gap, in minutes, between two consecutive runs of a five-field cron whose
/// day-of-month, month and day-of-week are `*` (the forms schedules here use): minute and
/// hour fields may be `*`, `*/n`, `a`, `a-b`, `a-b/n` or comma lists of those. Exact for these
/// forms, since they repeat every day; anything else is an error rather than a guess.
pub fn cron_interval_minutes(expr: &str) -> Result<u32, String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let [minute, hour, dom, month, dow] = fields[..] else {
        return Err(format!("`{expr}`: expected five fields"));
    };
    if [dom, month, dow] != ["*", "*", "*"] {
        return Err(format!("`{expr}`: only daily-repeating crons (day, month and weekday `*`) are supported"));
    }
    let minutes = cron_field(minute, 60).map_err(|e| format!("`{expr}` minute: {e}"))?;
    let hours = cron_field(hour, 24).map_err(|e| format!("`{expr}` hour: {e}"))?;
    let runs: Vec<u32> = hours.iter().flat_map(|h| minutes.iter().map(move |m| h * 60 + m)).collect();
    let (Some(first), Some(last)) = (runs.first(), runs.last()) else {
        return Err(format!("`{expr}` never runs"));
    };
    // `runs` is sorted: hours and minutes ascend. The wrap-around gap closes the day.
    let wrap = first + 1440 - last;
    Ok(runs.windows(2).map(|w| w[1] - w[0]).chain(std::iter::once(wrap)).max().unwrap_or(wrap))
}

/// The sorted values of one cron field over `0..size`.
fn cron_field(field: &str, size: u32) -> Result<Vec<u32>, String> {
    let mut out = BTreeSet::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().map_err(|_| format!("bad step in `{part}`"))?),
            None => (part, 1),
        };
        if step == 0 {
            return Err(format!("zero step in `{part}`"));
        }
        let (lo, hi) = match range {
            "*" => (0, size - 1),
            r => match r.split_once('-') {
                Some((a, b)) => (num(a, size)?, num(b, size)?),
                None if part.contains('/') => (num(r, size)?, size - 1),
                None => (num(r, size)?, num(r, size)?),
            },
        };
        if lo > hi {
            return Err(format!("empty range `{part}`"));
        }
        out.extend((lo..=hi).step_by(step as usize));
    }
    Ok(out.into_iter().collect())
}

fn num(s: &str, size: u32) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if n < size => Ok(n),
        _ => Err(format!("`{s}` is not in 0..{size}")),
    }
}
