//! Pinned versions of the engines the bundle targets, in one place.
//!
//! A version here is a decision: change it in a reviewed commit, with the reason, and rebuild.

/// A Terraform provider requirement.
pub struct Provider {
    pub name: &'static str,
    pub source: &'static str,
    pub constraint: &'static str,
}

/// Terraform CLI versions the generated code is written for (S3 backend, `import` and `check`
/// blocks, `optional()` object attributes all need ≥ 1.5).
pub const TERRAFORM_REQUIRED_VERSION: &str = ">= 1.6.0";

/// Providers, pinned to a major version: the AWS provider 6.x is the schema we check arguments
/// against; kubernetes 2.x and helm 3.x are the current majors; random generates the Redis AUTH
/// token.
pub const TERRAFORM_PROVIDERS: &[Provider] = &[
    Provider { name: "aws", source: "hashicorp/aws", constraint: "~> 6.0" },
    Provider { name: "helm", source: "hashicorp/helm", constraint: "~> 3.0" },
    Provider { name: "kubernetes", source: "hashicorp/kubernetes", constraint: "~> 2.38" },
    Provider { name: "random", source: "hashicorp/random", constraint: "~> 3.7" },
];
