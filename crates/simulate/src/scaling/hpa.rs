//! The HPA's normalisation of a recommendation, as `pkg/controller/podautoscaler/horizontal.go`
//! does it when a `behavior` applies (every autoscaling/v2 HPA has one: the defaults fill what
//! the object leaves out):
//!
//! 1. `stabilizeRecommendationWithBehaviors`: the up-recommendation is the **minimum** of the
//!    raw recommendations within the scale-up stabilisation window (this one included), the
//!    down-recommendation the **maximum** within the scale-down window; the result is the
//!    current count moved up to the first or down to the second.
//! 2. `convertDesiredReplicasWithBehaviorRate` / `calculateScaleUpLimitWithScalingRules`: for
//!    each scale-up policy, the replicas at the start of its period (current − the replicas
//!    added by scale-up events less than `periodSeconds` ago) plus `value` pods (`Pods`) or
//!    times `1 + value/100` rounded up (`Percent`); `selectPolicy: Max` takes the largest limit,
//!    `Min` the smallest, `Disabled` forbids scaling up. The limit never goes below the current
//!    count, and the max replicas cap it.

use k8s_openapi::api::autoscaling::v2::{HPAScalingRules, HorizontalPodAutoscalerBehavior};
use serde::Serialize;

use super::constants::ScaleUpDefaults;

/// How a policy limits a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PolicyKind {
    Pods,
    Percent,
}

/// One scale-up policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub kind: PolicyKind,
    pub value: u32,
    pub period_seconds: u32,
}

/// `selectPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Select {
    Max,
    Min,
    Disabled,
}

/// The scale-up rules in force (the object's, completed with Kubernetes' defaults).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScaleUp {
    pub stabilization_window_seconds: u32,
    pub select: Select,
    pub policies: Vec<Policy>,
    /// Scale-down stabilisation window (it bounds how far a recommendation may drop).
    pub down_window_seconds: u32,
}

impl ScaleUp {
    /// Rules from an HPA `behavior` (KEDA: `advanced.horizontalPodAutoscalerConfig.behavior`),
    /// each missing field taking Kubernetes' default (`defaults`, from the data file).
    /// `down_default`: the default scale-down stabilisation window (s).
    pub fn from_behavior(
        b: Option<&HorizontalPodAutoscalerBehavior>,
        defaults: &ScaleUpDefaults,
        down_default: u32,
    ) -> ScaleUp {
        let up: Option<&HPAScalingRules> = b.and_then(|b| b.scale_up.as_ref());
        let default_policies = || {
            defaults
                .policies
                .iter()
                .map(|p| Policy {
                    kind: if p.type_ == "Pods" { PolicyKind::Pods } else { PolicyKind::Percent },
                    value: p.value.max(0) as u32,
                    period_seconds: p.period_seconds.max(0) as u32,
                })
                .collect::<Vec<_>>()
        };
        let policies = match up.and_then(|u| u.policies.as_ref()) {
            Some(ps) if !ps.is_empty() => ps
                .iter()
                .map(|p| Policy {
                    kind: if p.type_ == "Pods" { PolicyKind::Pods } else { PolicyKind::Percent },
                    value: p.value.max(0) as u32,
                    period_seconds: p.period_seconds.max(0) as u32,
                })
                .collect(),
            _ => default_policies(),
        };
        let select = match up.and_then(|u| u.select_policy.as_deref()).unwrap_or(defaults.select_policy.as_str()) {
            "Min" => Select::Min,
            "Disabled" => Select::Disabled,
            _ => Select::Max,
        };
        let window =
            up.and_then(|u| u.stabilization_window_seconds).unwrap_or(defaults.stabilization_window_seconds).max(0)
                as u32;
        let down_window = b
            .and_then(|b| b.scale_down.as_ref())
            .and_then(|d| d.stabilization_window_seconds)
            .map_or(down_default, |w| w.max(0) as u32);
        ScaleUp { stabilization_window_seconds: window, select, policies, down_window_seconds: down_window }
    }
}

/// The controller's memory for one HPA: raw recommendations and scale-up events, with times.
#[derive(Debug, Clone, Default)]
pub struct Controller {
    recommendations: Vec<(f64, u32)>,
    scale_ups: Vec<(f64, u32)>,
}

impl Controller {
    /// Normalise the raw recommendation `desired` at time `now` for a target at `current`
    /// replicas with bounds `[min, max]`; records what the controller records.
    pub fn normalize(&mut self, rules: &ScaleUp, now: f64, current: u32, desired: u32, min: u32, max: u32) -> u32 {
        // Kubernetes records the *unclamped* recommendation (stabilizeRecommendationWithBehaviors)
        // and applies min and max only in convertDesiredReplicasWithBehaviorRate, with the rate
        // limits. Clamping first here gives the same replica count: the clamp is monotone, so it
        // commutes with the window's min/max and with moving `current` (within [min, max]) towards
        // them, and the rate step below caps at max again. Scale-down rate limits are not modelled
        // (the surge only scales up): below `current` the result is held at min.
        let desired = desired.max(min).min(max.max(min));
        // 1. Stabilise. A record counts while its time is after the cutoff (`rec.timestamp.After(cutoff)`).
        let up_cut = now - f64::from(rules.stabilization_window_seconds);
        let down_cut = now - f64::from(rules.down_window_seconds);
        let mut up = desired;
        let mut down = desired;
        for &(t, r) in &self.recommendations {
            if t > up_cut {
                up = up.min(r);
            }
            if t > down_cut {
                down = down.max(r);
            }
        }
        self.recommendations.push((now, desired));
        let mut rec = current;
        if rec < up {
            rec = up;
        }
        if rec > down {
            rec = down;
        }
        // 2. Rate-limit a scale-up.
        if rec > current {
            let limit = self.scale_up_limit(rules, now, current).max(current);
            rec = rec.min(limit.min(max));
        }
        let rec = rec.max(min);
        if rec > current {
            self.scale_ups.push((now, rec - current));
        }
        rec
    }

    /// `calculateScaleUpLimitWithScalingRules`.
    fn scale_up_limit(&self, rules: &ScaleUp, now: f64, current: u32) -> u32 {
        let pick: fn(u32, u32) -> u32 = match rules.select {
            Select::Disabled => return current,
            Select::Min => u32::min,
            Select::Max => u32::max,
        };
        let mut result: Option<u32> = None;
        for p in &rules.policies {
            let cut = now - f64::from(p.period_seconds);
            let added: u32 = self.scale_ups.iter().filter(|(t, _)| *t > cut).map(|(_, n)| *n).sum();
            let start = current.saturating_sub(added);
            let proposed = match p.kind {
                PolicyKind::Pods => start.saturating_add(p.value),
                PolicyKind::Percent => super::metric::ceil(f64::from(start) * (1.0 + f64::from(p.value) / 100.0)),
            };
            result = Some(result.map_or(proposed, |r| pick(r, proposed)));
        }
        result.unwrap_or(current)
    }
}
