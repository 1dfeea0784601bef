//! Which custom APIs exist and which plug-in runs each.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bgops_core::CustomApi;

use crate::plugin::Plugin;

/// The custom APIs callable on this node and the plug-ins registered by `typename`.
#[derive(Default)]
pub struct Registry {
    /// Custom APIs by unique name (case-sensitive, as Dataverse).
    apis: RwLock<HashMap<String, Arc<CustomApi>>>,
    /// Native plug-ins by type name.
    plugins: RwLock<HashMap<String, Arc<dyn Plugin>>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry holding the diagnostic APIs of SPEC §1 and their plug-ins.
    pub fn with_builtins() -> Self {
        let r = Self::new();
        crate::builtin::register(&r);
        r
    }

    /// Adds or replaces a custom API.
    pub fn add_api(&self, api: CustomApi) {
        if let Ok(mut apis) = self.apis.write() {
            apis.insert(api.unique_name.clone(), Arc::new(api));
        }
    }

    /// Adds or replaces a native plug-in under `type_name`.
    pub fn add_plugin(&self, type_name: impl Into<String>, plugin: Arc<dyn Plugin>) {
        if let Ok(mut plugins) = self.plugins.write() {
            plugins.insert(type_name.into(), plugin);
        }
    }

    /// The custom API named `name`.
    pub fn api(&self, name: &str) -> Option<Arc<CustomApi>> {
        self.apis.read().ok()?.get(name).cloned()
    }

    /// Every custom API, sorted by unique name.
    pub fn apis(&self) -> Vec<Arc<CustomApi>> {
        let mut all: Vec<_> = self
            .apis
            .read()
            .map(|a| a.values().cloned().collect())
            .unwrap_or_default();
        all.sort_by(|a: &Arc<CustomApi>, b| a.unique_name.cmp(&b.unique_name));
        all
    }

    /// The plug-in registered as `type_name`.
    pub fn plugin(&self, type_name: &str) -> Option<Arc<dyn Plugin>> {
        self.plugins.read().ok()?.get(type_name).cloned()
    }
}
