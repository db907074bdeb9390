//! The nodes an environment has and can get: its managed node groups (as `Env::node_groups`
//! renders them into `terraform.tfvars`), each node of the group's first instance type (what the
//! group launches and Cluster Autoscaler models), with allocatable from
//! `cerverus_model::capacity`, spread over the zones the group may use.
//!
//! OWNER: scheduling helper.
