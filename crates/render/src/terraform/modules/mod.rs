//! The reusable Terraform modules, one per concern, shared by every environment's root module.

pub mod common;
pub mod database;
pub mod eks;
pub mod network;
pub mod registry;
pub mod rotation;
pub mod security;
pub mod storage;

use super::module::Module;

/// Every module, in the order a reader meets them.
pub fn all() -> Vec<Module> {
    vec![
        network::module(),
        security::module(),
        eks::module(),
        database::postgres(),
        database::redis(),
        storage::module(),
        registry::registry(),
        registry::secrets(),
        rotation::module(),
        registry::audit(),
    ]
}
