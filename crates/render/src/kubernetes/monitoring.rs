//! What Prometheus scrapes of the platform's own workloads: a PodMonitor per workload that
//! exposes the `metrics` port. Without one, kube-prometheus-stack's Prometheus never collects the
//! series the KEDA triggers query (request rate, stream lag), and those triggers read nothing.
//! Every series gets `namespace` and `pod` from the target, which is what the autoscaling
//! queries select on.

use cerverus_model::{Env, Platform};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::crd::Resource;
use super::crd::monitoring::{PodMetricsEndpoint, PodMonitorSpec, PodSelector};
use super::{Objects, labels};
use crate::RenderError;

/// Scrape interval: KEDA polls every 15 s, and its `rate(...[2m])` queries then see eight samples
/// per window.
pub const SCRAPE_INTERVAL: &str = "15s";

pub(super) fn render(_platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    for w in &env.workloads {
        let Some(port) = w.metrics_port() else { continue };
        let pm = Resource {
            api_version: "monitoring.coreos.com/v1",
            kind: "PodMonitor",
            metadata: ObjectMeta {
                name: Some(w.name().to_string()),
                namespace: Some(w.namespace().to_string()),
                labels: Some(labels::workload(w)),
                ..Default::default()
            },
            spec: PodMonitorSpec {
                selector: PodSelector { match_labels: labels::selector(w), ..Default::default() },
                namespace_selector: None,
                job_label: None,
                pod_metrics_endpoints: vec![PodMetricsEndpoint {
                    port: port.name.clone(),
                    path: "/metrics",
                    interval: SCRAPE_INTERVAL,
                    relabelings: Vec::new(),
                }],
            },
        };
        out.add(Some(w.namespace()), "PodMonitor", w.name(), &pm)?;
    }
    Ok(())
}
