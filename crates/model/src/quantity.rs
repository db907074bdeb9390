//! Kubernetes resource quantities (`500m`, `2Gi`, `1.5`), parsed enough to compare them.

/// The value of a quantity in base units (cores for CPU, bytes for memory), or `None` when the
/// text is not a quantity Kubernetes accepts.
pub fn parse(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    if num.is_empty() || num.matches('.').count() > 1 || num.starts_with('.') && num.len() == 1 {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0_f64.powi(4),
        "Pi" => 1024.0_f64.powi(5),
        _ => return None,
    };
    Some(n * factor)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_the_usual_forms() {
        assert_eq!(parse("500m"), Some(0.5));
        assert_eq!(parse("2"), Some(2.0));
        assert_eq!(parse("1.5"), Some(1.5));
        assert_eq!(parse("1Gi"), Some(1073741824.0));
        assert_eq!(parse("256Mi"), Some(268435456.0));
        assert_eq!(parse("1G"), Some(1e9));
    }

    #[test]
    fn rejects_what_kubernetes_rejects() {
        for bad in ["", "m", "1.2.3", "12 Gi", "1gb", "-1", "one"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
