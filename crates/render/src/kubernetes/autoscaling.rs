//! Pod autoscaling: an HPA (autoscaling/v2) for workloads that scale on CPU and memory only, a
//! KEDA ScaledObject (which owns its HPA) for those that also scale on Prometheus metrics, on a
//! schedule or on the length of the queue their runtime contract says they work off (Redis list,
//! with a TriggerAuthentication), and a VPA for every workload — recommendation-only where an autoscaler already
//! acts on CPU and memory, so the two never fight. Why KEDA: docs/adr/0003-autoscaling.md.

use std::collections::BTreeMap;

use cerverus_model::{Env, Platform, Workload};
use cerverus_spec::WorkloadKind;
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscaler,
    HorizontalPodAutoscalerBehavior, HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget, ResourceMetricSource,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use cerverus_model::runtime::redis_keys;

use super::crd::{
    AuthenticationRef, HpaConfig, Resource, ScaleTargetRef, ScaledObjectAdvanced, ScaledObjectSpec, SecretTargetRef,
    Trigger, TriggerAuthenticationSpec, VpaContainerPolicy, VpaResourcePolicy, VpaSpec, VpaTargetRef, VpaUpdatePolicy,
};
use super::{Objects, labels};
use crate::RenderError;

/// Where KEDA's Prometheus scaler queries: the Prometheus Service kube-prometheus-stack creates
/// (an add-on of this bundle, `crate::addons`).
pub fn prometheus_address() -> String {
    crate::addons::prometheus_service().url()
}

pub use cerverus_model::keda::prometheus_metric_type;

/// `(apiVersion, kind)` of the object whose replicas an autoscaler sets: the Argo Rollout of a
/// canary/blue-green workload (through its scale subresource), else the workload's own kind.
fn kind_api(w: &Workload) -> (&'static str, &'static str) {
    if let Some(target) = super::rollouts::scale_target(w) {
        return target;
    }
    match w.spec.kind {
        WorkloadKind::Deployment => ("apps/v1", "Deployment"),
        WorkloadKind::StatefulSet => ("apps/v1", "StatefulSet"),
        WorkloadKind::CronJob => ("batch/v1", "CronJob"),
        WorkloadKind::Job => ("batch/v1", "Job"),
    }
}

/// Scale up fast (market opens, fraud bursts), scale down slowly (avoid flapping).
fn behavior() -> HorizontalPodAutoscalerBehavior {
    HorizontalPodAutoscalerBehavior {
        scale_up: Some(HPAScalingRules {
            stabilization_window_seconds: Some(0),
            select_policy: Some("Max".into()),
            policies: Some(vec![
                HPAScalingPolicy { type_: "Percent".into(), value: 100, period_seconds: 30 },
                HPAScalingPolicy { type_: "Pods".into(), value: 4, period_seconds: 30 },
            ]),
            ..Default::default()
        }),
        scale_down: Some(HPAScalingRules {
            stabilization_window_seconds: Some(300),
            select_policy: Some("Min".into()),
            policies: Some(vec![HPAScalingPolicy { type_: "Percent".into(), value: 20, period_seconds: 60 }]),
            ..Default::default()
        }),
    }
}

fn meta(w: &Workload) -> ObjectMeta {
    ObjectMeta {
        name: Some(w.name().to_string()),
        namespace: Some(w.namespace().to_string()),
        labels: Some(labels::workload(w)),
        ..Default::default()
    }
}

/// Whether KEDA (rather than a plain HPA) scales this workload.
pub fn uses_keda(w: &Workload) -> bool {
    w.spec.autoscaling.as_ref().is_some_and(|a| !a.custom.is_empty() || !a.schedules.is_empty()) || scales_on_queue(w)
}

/// Whether an autoscaled workload scales on the length of the queue its runtime contract says it
/// works off (the Airflow Celery worker).
pub fn scales_on_queue(w: &Workload) -> bool {
    w.spec.autoscaling.is_some() && w.contract.is_some_and(|c| c.queue.is_some())
}

/// The Redis list scaler of a workload that works off a Celery queue, with the
/// TriggerAuthentication that hands KEDA the store's endpoint and AUTH token from the Secret
/// External Secrets makes for the workload's Redis connection (`secrets::render_redis`).
/// Scaling on the queue itself needs no exporter: KEDA reads the list's length from the broker.
pub fn queue_trigger(
    platform: &Platform,
    env: &Env,
    w: &Workload,
) -> Option<(Trigger, Resource<TriggerAuthenticationSpec>)> {
    if !scales_on_queue(w) {
        return None;
    }
    let q = w.contract.and_then(|c| c.queue.as_ref())?;
    let redis = env.redis_connections(&platform.name, w).into_iter().next()?;
    let auth_name = format!("{}-{}", w.name(), redis.secret_name);
    let param = |parameter: &'static str, key: &'static str| SecretTargetRef {
        parameter,
        name: redis.secret_name.clone(),
        key,
    };
    let auth = Resource {
        api_version: "keda.sh/v1alpha1",
        kind: "TriggerAuthentication",
        metadata: ObjectMeta { name: Some(auth_name.clone()), ..meta(w) },
        spec: TriggerAuthenticationSpec {
            secret_target_ref: vec![
                param("host", redis_keys::HOST),
                param("port", redis_keys::PORT),
                param("password", redis_keys::TOKEN),
            ],
        },
    };
    let trigger = Trigger {
        type_: "redis",
        // A total over the queue: the HPA divides it by the replica count.
        metric_type: Some("AverageValue"),
        metadata: BTreeMap::from([
            ("listName".to_string(), q.redis_list.clone()),
            ("listLength".to_string(), q.target_per_replica.to_string()),
            // ElastiCache enforces in-transit encryption; the server certificate is verified.
            ("enableTLS".to_string(), "true".to_string()),
            // The database the broker URL names (`/0`, `secrets::render_redis`).
            ("databaseIndex".to_string(), "0".to_string()),
        ]),
        authentication_ref: Some(AuthenticationRef { name: auth_name }),
    };
    Some((trigger, auth))
}

pub(super) fn render(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    for w in &env.workloads {
        let ns = Some(w.namespace());
        if let Some(a) = &w.spec.autoscaling {
            let (api, kind) = kind_api(w);
            if uses_keda(w) {
                let mut triggers = Vec::new();
                for (res, pct) in [("cpu", a.cpu_percent), ("memory", a.memory_percent)] {
                    if let Some(p) = pct {
                        triggers.push(Trigger {
                            type_: if res == "cpu" { "cpu" } else { "memory" },
                            metric_type: Some("Utilization"),
                            metadata: BTreeMap::from([("value".to_string(), p.to_string())]),
                            authentication_ref: None,
                        });
                    }
                }
                for c in &a.custom {
                    let metric_type = prometheus_metric_type(&c.query).map_err(|e| {
                        RenderError::Invalid(format!("workload `{}`: autoscaling query `{}` {e}", w.name(), c.query))
                    })?;
                    triggers.push(Trigger {
                        type_: "prometheus",
                        metric_type: Some(metric_type),
                        metadata: BTreeMap::from([
                            ("serverAddress".to_string(), prometheus_address()),
                            ("metricName".to_string(), c.metric.clone()),
                            ("query".to_string(), c.query.clone()),
                            ("threshold".to_string(), format_number(c.target_per_pod)),
                        ]),
                        authentication_ref: None,
                    });
                }
                for s in &a.schedules {
                    triggers.push(Trigger {
                        type_: "cron",
                        metric_type: None,
                        metadata: BTreeMap::from([
                            ("timezone".to_string(), s.timezone.clone()),
                            ("start".to_string(), s.start.clone()),
                            ("end".to_string(), s.end.clone()),
                            ("desiredReplicas".to_string(), s.replicas.to_string()),
                        ]),
                        authentication_ref: None,
                    });
                }
                if let Some((trigger, auth)) = queue_trigger(platform, env, w) {
                    triggers.push(trigger);
                    out.add(ns, "TriggerAuthentication", &auth.metadata.name.clone().unwrap_or_default(), &auth)?;
                }
                let so = Resource {
                    api_version: "keda.sh/v1alpha1",
                    kind: "ScaledObject",
                    metadata: meta(w),
                    spec: ScaledObjectSpec {
                        scale_target_ref: ScaleTargetRef { api_version: api, kind, name: w.name().to_string() },
                        min_replica_count: a.min as i32,
                        max_replica_count: a.max as i32,
                        polling_interval: 15,
                        cooldown_period: 300,
                        advanced: ScaledObjectAdvanced {
                            horizontal_pod_autoscaler_config: HpaConfig { behavior: behavior() },
                        },
                        triggers,
                    },
                };
                out.add(ns, "ScaledObject", w.name(), &so)?;
            } else {
                let mut metrics = Vec::new();
                for (res, pct) in [("cpu", a.cpu_percent), ("memory", a.memory_percent)] {
                    if let Some(p) = pct {
                        metrics.push(MetricSpec {
                            type_: "Resource".into(),
                            resource: Some(ResourceMetricSource {
                                name: res.into(),
                                target: MetricTarget {
                                    type_: "Utilization".into(),
                                    average_utilization: Some(p as i32),
                                    ..Default::default()
                                },
                            }),
                            ..Default::default()
                        });
                    }
                }
                let hpa = HorizontalPodAutoscaler {
                    metadata: meta(w),
                    spec: Some(HorizontalPodAutoscalerSpec {
                        scale_target_ref: CrossVersionObjectReference {
                            api_version: Some(api.into()),
                            kind: kind.into(),
                            name: w.name().to_string(),
                        },
                        min_replicas: Some(a.min as i32),
                        max_replicas: a.max as i32,
                        metrics: Some(metrics),
                        behavior: Some(behavior()),
                    }),
                    ..Default::default()
                };
                out.add(ns, "HorizontalPodAutoscaler", w.name(), &hpa)?;
            }
        }
        out.add(ns, "VerticalPodAutoscaler", w.name(), &vpa(w))?;
    }
    Ok(())
}

/// VPA mode: `Off` (recommend only) where an autoscaler acts on CPU or memory; `Initial` (set at
/// pod creation, never evict) for jobs and single replicas; `Recreate` otherwise.
pub fn vpa_mode(w: &Workload) -> &'static str {
    let scaled_on_resources = w
        .spec
        .autoscaling
        .as_ref()
        .is_some_and(|a| a.cpu_percent.is_some() || a.memory_percent.is_some() || !a.custom.is_empty())
        || scales_on_queue(w);
    if scaled_on_resources {
        "Off"
    } else if !w.spec.kind.is_long_running() || w.spec.replicas < 2 {
        "Initial"
    } else {
        "Recreate"
    }
}

fn vpa(w: &Workload) -> Resource<VpaSpec> {
    let (api, kind) = kind_api(w);
    let r = &w.spec.resources;
    Resource {
        api_version: "autoscaling.k8s.io/v1",
        kind: "VerticalPodAutoscaler",
        metadata: meta(w),
        spec: VpaSpec {
            target_ref: VpaTargetRef { api_version: api, kind, name: w.name().to_string() },
            update_policy: VpaUpdatePolicy { update_mode: vpa_mode(w) },
            resource_policy: VpaResourcePolicy {
                container_policies: vec![VpaContainerPolicy {
                    container_name: w.name().to_string(),
                    controlled_resources: vec!["cpu", "memory"],
                    min_allowed: BTreeMap::from([
                        ("cpu".to_string(), "50m".to_string()),
                        ("memory".to_string(), "64Mi".to_string()),
                    ]),
                    // Recommendations stay inside the envelope the spec declares.
                    max_allowed: BTreeMap::from([
                        ("cpu".to_string(), r.limits.cpu.clone()),
                        ("memory".to_string(), r.limits.memory.clone()),
                    ]),
                }],
            },
        },
    }
}

/// A threshold as KEDA expects it: a plain decimal string.
fn format_number(v: f64) -> String {
    if v.fract() == 0.0 { format!("{}", v as i64) } else { format!("{v}") }
}

#[cfg(test)]
mod tests {
    use super::prometheus_metric_type;

    #[test]
    fn metric_type_follows_the_top_level_aggregation() {
        assert_eq!(prometheus_metric_type("sum(rate(http_requests_total[2m]))"), Ok("AverageValue"));
        assert_eq!(prometheus_metric_type("(count(up))"), Ok("AverageValue"));
        assert_eq!(prometheus_metric_type("avg(DCGM_FI_DEV_GPU_UTIL)"), Ok("Value"));
        assert_eq!(prometheus_metric_type("max(lag) by ()"), Ok("Value"));
        // The seed's shapes: several series, or none aggregated at all.
        assert!(prometheus_metric_type("sum(rate(http_requests_total[2m])) by (pod)").is_err());
        assert!(prometheus_metric_type("max(lag) without (pod)").is_err());
        assert!(prometheus_metric_type("rate(http_requests_total[2m])").is_err());
        assert!(prometheus_metric_type("topk(1, lag)").is_err());
        assert!(prometheus_metric_type("sum(").is_err());
    }
}
