//! The bgops engine: it runs background operations. Workers claim due rows under a lease,
//! run each attempt's plug-in under the attempt time-out while renewing the lease, record the
//! outcome behind the attempt's fence, retry per the policy, honour cancel requests, take back
//! attempts whose node died, and delete rows whose time to live has passed.
#![warn(missing_docs)]

pub mod access;
pub mod builtin;
pub mod changes;
mod config;
mod data;
pub mod definitions;
mod engine;
mod http_plugin;
mod loops;
pub mod outbound;
mod outcome;
mod plugin;
mod registry;
pub mod sample;
mod step_handler;
pub mod trace;

pub use access::{Access, AccessError};
pub use config::EngineConfig;
pub use data::DataAccess;
pub use engine::{Engine, EngineHandle, RandomJitter};
pub use http_plugin::HttpPlugin;
pub use outbound::Outbound;
pub use plugin::{Plugin, PluginContext, PluginError};
pub use registry::Registry;
