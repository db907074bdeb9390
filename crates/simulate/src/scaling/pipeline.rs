//! The delays between the surge and capacity, read from the rendered artifacts where they are
//! rendered and from the data file where they are defaults or estimates: how old a metric
//! sample is when the HPA reads it, how long a pod takes from creation to Ready, how long a
//! Cluster Autoscaler node takes from a pending pod to Ready.

use k8s_openapi::api::core::v1::Probe;
use serde::Serialize;
use serde_json::Value;

use super::constants::ScalingData;
use super::metric::Response;
use crate::Inputs;
use crate::objects::{ScalingMetric, Workload};

/// One delay, with where its number came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delay {
    pub item: String,
    pub seconds: f64,
    /// `rendered: <where>` when read from the bundle, else the data file's source.
    pub source: String,
}

/// The sum of `parts`.
pub fn total(parts: &[Delay]) -> f64 {
    // Start from +0.0: an empty f64 sum is -0.0.
    parts.iter().fold(0.0, |a, d| a + d.seconds)
}

/// A Prometheus/Go duration (`15s`, `1m`, `1m30s`, `2h`) in seconds.
pub fn duration_seconds(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = 0.0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            0.001
        } else {
            match c {
                'h' => 3600.0,
                'm' => 60.0,
                's' => 1.0,
                'd' => 86400.0,
                _ => return None,
            }
        };
        total += n * unit;
    }
    if !num.is_empty() {
        total += num.parse::<f64>().ok()?;
    }
    Some(total)
}

/// The longest range selector (`[2m]`) in a PromQL query: a `rate()` over it ramps over that window.
pub fn range_window(query: &str) -> Option<f64> {
    let mut best: Option<f64> = None;
    let mut rest = query;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { break };
        let inner = after[..close].split(':').next().unwrap_or("");
        if let Some(d) = duration_seconds(inner) {
            best = Some(best.map_or(d, |b: f64| b.max(d)));
        }
        rest = &after[close + 1..];
    }
    best
}

/// How a metric reaches the HPA: its sample age (lag) and, for a `rate()` over a window, the
/// time a step takes to show in full (ramp).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricPath {
    /// `cpu`, `memory`, `prometheus: <query>`, `redis`, `cron`, …
    pub metric: String,
    pub target_type: String,
    pub response: Response,
    /// Whether replicas follow load through this metric.
    pub follows_load: bool,
    pub explanation: String,
    pub lag_seconds: f64,
    pub ramp_seconds: f64,
    pub lag: Vec<Delay>,
}

/// The pipeline of metric `index` (`m`) of `w`.
pub fn metric_path(
    inputs: &Inputs<'_>,
    w: &Workload,
    index: usize,
    m: &ScalingMetric,
    response: Response,
    data: &ScalingData,
) -> MetricPath {
    let d = &data.metrics;
    let mut lag = Vec::new();
    let mut ramp = 0.0;
    let source = m.source.to_ascii_lowercase();
    match source.as_str() {
        "cpu" | "memory" | "pods" => {
            let rendered = inputs.addon_values.get("metrics-server").and_then(|v| {
                ["args", "defaultArgs"].iter().find_map(|k| arg_value(v.get(*k)?, "--metric-resolution"))
            });
            lag.push(match rendered.and_then(|s| duration_seconds(&s)) {
                Some(s) => Delay {
                    item: "metrics-server resolution".into(),
                    seconds: s,
                    source: "rendered: helm/addons metrics-server values".into(),
                },
                None => Delay {
                    item: "metrics-server resolution".into(),
                    seconds: d.metrics_server_resolution_seconds.value,
                    source: d.metrics_server_resolution_seconds.source.clone(),
                },
            });
        }
        "cron" => {}
        "prometheus" => {
            let query = m.query.as_deref().unwrap_or("");
            let exporter = d.exporter_collection.iter().find(|e| query.contains(&e.metric_prefix));
            let scrape = match exporter {
                Some(e) => {
                    let values = inputs.addon_values.get(&e.chart);
                    let rendered =
                        values.and_then(|v| v.get("arguments")).and_then(|a| flag_value(a, &e.interval_flags));
                    lag.push(match rendered.and_then(|s| s.parse::<f64>().ok()) {
                        Some(n) => Delay {
                            item: format!("{} collection interval", e.chart),
                            seconds: n * e.flag_unit_seconds,
                            source: format!("rendered: {} values arguments", e.chart),
                        },
                        None => Delay {
                            item: format!("{} collection interval", e.chart),
                            seconds: e.seconds,
                            source: e.source.clone(),
                        },
                    });
                    inputs
                        .addon_values
                        .get(&e.chart)
                        .and_then(|v| v.pointer("/serviceMonitor/interval"))
                        .and_then(Value::as_str)
                        .and_then(duration_seconds)
                        .map(|s| (s, format!("rendered: {} values serviceMonitor.interval", e.chart)))
                }
                None => monitor_interval(inputs, w),
            };
            lag.push(match scrape {
                Some((s, src)) => Delay { item: "Prometheus scrape interval".into(), seconds: s, source: src },
                None => global_scrape(inputs, data),
            });
            ramp = range_window(query).unwrap_or(data.metrics.default_rate_window_seconds.value);
        }
        // Other scalers (redis, …) are queried by KEDA when the HPA asks: no lag of their own.
        _ => {}
    }
    if let Some(poll) = cached_polling(inputs, w, index) {
        lag.push(Delay {
            item: "KEDA pollingInterval (useCachedMetrics)".into(),
            seconds: poll,
            source: "rendered: ScaledObject pollingInterval".into(),
        });
    }
    let tolerance = data.hpa.tolerance.value;
    let metric = match &m.query {
        Some(q) => format!("{}: {q}", m.source),
        None => m.source.clone(),
    };
    MetricPath {
        metric,
        target_type: m.target_type.clone(),
        response,
        follows_load: response.follows_load(tolerance),
        explanation: response.describe(),
        lag_seconds: total(&lag),
        ramp_seconds: ramp,
        lag,
    }
}

/// `--flag=value` in a list of container args.
fn arg_value(args: &Value, flag: &str) -> Option<String> {
    args.as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find_map(|a| a.strip_prefix(flag).and_then(|r| r.strip_prefix('=')).map(str::to_string))
}

/// The value of one of `flags` in an argument list: `-c 5000`, `-c=5000` or `--flag=5000`.
fn flag_value(args: &Value, flags: &[String]) -> Option<String> {
    let args: Vec<&str> = args.as_array()?.iter().filter_map(Value::as_str).collect();
    for (i, a) in args.iter().enumerate() {
        for f in flags {
            if a == f {
                return args.get(i + 1).map(|v| v.to_string());
            }
            if let Some(v) = a.strip_prefix(f.as_str()).and_then(|r| r.strip_prefix('=')) {
                return Some(v.to_string());
            }
        }
    }
    None
}

/// The interval of the PodMonitor (or ServiceMonitor) in `w`'s namespace whose selector matches
/// its pods' labels.
fn monitor_interval(inputs: &Inputs<'_>, w: &Workload) -> Option<(f64, String)> {
    for o in &inputs.k8s {
        let endpoints = match o.kind() {
            "PodMonitor" => "/spec/podMetricsEndpoints",
            "ServiceMonitor" => "/spec/endpoints",
            _ => continue,
        };
        if o.namespace() != Some(w.namespace.as_str()) {
            continue;
        }
        let Some(labels) = o.value.pointer("/spec/selector/matchLabels").and_then(Value::as_object) else {
            continue;
        };
        if labels.is_empty()
            || !labels.iter().all(|(k, v)| v.as_str().is_some_and(|v| w.labels.get(k).is_some_and(|x| x == v)))
        {
            continue;
        }
        let interval = o
            .value
            .pointer(endpoints)
            .and_then(Value::as_array)
            .and_then(|eps| eps.iter().find_map(|e| e.get("interval").and_then(Value::as_str)))
            .and_then(duration_seconds);
        if let Some(s) = interval {
            return Some((s, format!("rendered: {} {}/{} interval", o.kind(), w.namespace, o.name())));
        }
    }
    None
}

/// Prometheus' global scrape interval: the kube-prometheus-stack values, else the operator default.
fn global_scrape(inputs: &Inputs<'_>, data: &ScalingData) -> Delay {
    let rendered = inputs
        .addon_values
        .get("kube-prometheus-stack")
        .and_then(|v| v.pointer("/prometheus/prometheusSpec/scrapeInterval"))
        .and_then(Value::as_str)
        .and_then(duration_seconds);
    match rendered {
        Some(s) => Delay {
            item: "Prometheus scrape interval".into(),
            seconds: s,
            source: "rendered: kube-prometheus-stack prometheusSpec.scrapeInterval".into(),
        },
        None => Delay {
            item: "Prometheus scrape interval".into(),
            seconds: data.metrics.prometheus_default_scrape_interval_seconds.value,
            source: data.metrics.prometheus_default_scrape_interval_seconds.source.clone(),
        },
    }
}

/// KEDA's pollingInterval when trigger `index` of `w`'s ScaledObject serves cached values.
fn cached_polling(inputs: &Inputs<'_>, w: &Workload, index: usize) -> Option<f64> {
    let a = w.autoscaler.as_ref()?;
    let so = inputs
        .k8s
        .iter()
        .find(|o| o.kind() == "ScaledObject" && o.namespace() == Some(w.namespace.as_str()) && o.name() == a.name)?;
    let cached = so.value.pointer(&format!("/spec/triggers/{index}/useCachedMetrics")).and_then(Value::as_bool)?;
    cached.then(|| f64::from(a.polling_interval_seconds.unwrap_or(0)))
}

/// From pod creation to Ready: scheduling, image pull (an estimate by image family), container
/// start, the mesh sidecar, and the startup and readiness probes (`initialDelaySeconds +
/// periodSeconds × successThreshold` each, from the rendered pod; the app is assumed up by the
/// probes' first success).
///
/// A StatefulSet replica with `volumeClaimTemplates` (`claims`) also waits for its new volume.
pub fn pod_start(w: &Workload, claims: bool, data: &ScalingData) -> Vec<Delay> {
    let p = &data.pods;
    let mut parts = vec![Delay {
        item: "create and schedule".into(),
        seconds: p.schedule_seconds.value,
        source: p.schedule_seconds.source.clone(),
    }];
    if claims {
        parts.push(Delay {
            item: "new PersistentVolume created and attached".into(),
            seconds: p.volume_create_attach_seconds.value,
            source: p.volume_create_attach_seconds.source.clone(),
        });
    }
    let (mb, family) = data.image_mb(&w.image);
    let family_source = p
        .image_families
        .iter()
        .find(|f| f.repository_contains == family)
        .map_or(p.default_image_mb.source.clone(), |f| f.source.clone());
    parts.push(Delay {
        item: format!(
            "image pull (estimate: {mb:.0} MB, family `{family}`, at {} MB/s)",
            p.image_pull_mb_per_second.value
        ),
        seconds: mb / p.image_pull_mb_per_second.value.max(1e-9),
        source: format!("{family_source}; {}", p.image_pull_mb_per_second.source),
    });
    parts.push(Delay {
        item: "container start".into(),
        seconds: p.container_start_seconds.value,
        source: p.container_start_seconds.source.clone(),
    });
    if w.mesh_sidecar {
        parts.push(Delay {
            item: "istio-proxy ready".into(),
            seconds: p.mesh_sidecar_start_seconds.value,
            source: p.mesh_sidecar_start_seconds.source.clone(),
        });
    }
    let probe = |name: &str, pr: Option<&Probe>| {
        pr.map(|pr| {
            let d = &p.probe_defaults;
            let delay = pr.initial_delay_seconds.map_or(d.initial_delay_seconds, f64::from);
            let period = pr.period_seconds.map_or(d.period_seconds, f64::from);
            let success = pr.success_threshold.map_or(d.success_threshold, f64::from);
            Delay {
                item: format!("{name} probe ({delay:.0} s + {period:.0} s × {success:.0})"),
                seconds: delay + period * success,
                source: format!("rendered: pod template of {}/{}", w.namespace, w.name),
            }
        })
    };
    parts.extend(probe("startup", w.startup()));
    parts.extend(probe("readiness", w.readiness()));
    parts
}

/// From a pending pod to a Ready node Cluster Autoscaler adds to a managed node group: its scan
/// interval (from the CA values when rendered), the ASG launch, boot and join, CNI ready and, for
/// GPU nodes, the device plugin advertising the GPUs.
pub fn node_ready(inputs: &Inputs<'_>, gpu: bool, data: &ScalingData) -> Vec<Delay> {
    let n = &data.nodes;
    let scan = inputs
        .addon_values
        .get("cluster-autoscaler")
        .and_then(|v| v.pointer("/extraArgs/scan-interval"))
        .and_then(Value::as_str)
        .and_then(duration_seconds);
    let mut parts = vec![match scan {
        Some(s) => Delay {
            item: "Cluster Autoscaler scan interval".into(),
            seconds: s,
            source: "rendered: cluster-autoscaler values extraArgs.scan-interval".into(),
        },
        None => Delay {
            item: "Cluster Autoscaler scan interval".into(),
            seconds: n.ca_scan_interval_seconds.value,
            source: n.ca_scan_interval_seconds.source.clone(),
        },
    }];
    for (item, c) in [
        ("ASG launch (EC2 RunInstances → running)", &n.asg_launch_seconds),
        ("boot and kubelet join", &n.boot_and_join_seconds),
        ("CNI ready, Node Ready", &n.cni_ready_seconds),
    ] {
        parts.push(Delay { item: item.into(), seconds: c.value, source: c.source.clone() });
    }
    if gpu {
        parts.push(Delay {
            item: "NVIDIA device plugin advertises nvidia.com/gpu".into(),
            seconds: n.gpu_device_plugin_seconds.value,
            source: n.gpu_device_plugin_seconds.source.clone(),
        });
    }
    parts
}

/// For a StatefulSet: whether it starts replicas one at a time (`podManagementPolicy`
/// `OrderedReady`, the default: the controller creates pod n+1 only once pod n is Ready) and
/// whether its replicas get new volumes (`volumeClaimTemplates`), from the rendered object.
pub fn stateful(inputs: &Inputs<'_>, w: &Workload) -> (bool, bool) {
    if w.kind != crate::objects::OwnerKind::StatefulSet {
        return (false, false);
    }
    let Some(o) = inputs
        .k8s
        .iter()
        .find(|o| o.kind() == "StatefulSet" && o.namespace() == Some(w.namespace.as_str()) && o.name() == w.name)
    else {
        return (false, false);
    };
    let ordered = o.value.pointer("/spec/podManagementPolicy").and_then(Value::as_str) != Some("Parallel");
    let claims = o.value.pointer("/spec/volumeClaimTemplates").and_then(Value::as_array).is_some_and(|v| !v.is_empty());
    (ordered, claims)
}
