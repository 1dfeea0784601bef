//! Which custom APIs exist and which plug-in runs each.
//!
//! Two kinds of definitions meet here. Custom APIs and native plug-ins registered in code
//! ([`Registry::add_api`], [`Registry::add_plugin`]) live in memory. Custom APIs and HTTP
//! plug-ins defined as rows of the definition tables (over the Web API or in the
//! `--custom-apis` file) live in the store: the registry keeps a copy and, before each lookup of
//! a name not registered in code, checks with one cheap read (the tables' [`TablesStamp`])
//! whether the rows changed on any node, reloading them if so. A definition created or deleted
//! anywhere is therefore callable, or gone, at the next call on every node, without a restart.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use bgops_core::catalogue::Catalogue;
use bgops_core::custom_api_rows::DefinitionRows;
use bgops_core::CustomApi;
use bgops_store::{Store, StoreError, TablesStamp};

use crate::definitions::load;
use crate::http_plugin::HttpPlugin;
use crate::outbound::Outbound;
use crate::plugin::Plugin;

/// Where the definitions kept as rows are read from; set once, when the engine is built.
struct RowSource {
    /// The store holding the definition tables.
    store: Arc<dyn Store>,
    /// The definition tables.
    catalogue: Arc<Catalogue>,
    /// The client HTTP plug-ins send with; without it, HTTP plug-in rows cannot run.
    outbound: Option<Arc<Outbound>>,
}

/// The definitions read from the rows at one moment.
#[derive(Default)]
struct Loaded {
    /// The stamp of the tables when they were read; `None` before the first read.
    stamp: Option<TablesStamp>,
    /// The rows as read: the facts the definition rules check writes against.
    rows: Arc<DefinitionRows>,
    /// Custom APIs defined by rows, by unique name.
    apis: HashMap<String, Arc<CustomApi>>,
    /// HTTP plug-ins by type name, with their endpoint URL (kept across reloads while the URL
    /// stays the same, so their connection pools survive).
    http_plugins: HashMap<String, (String, Arc<dyn Plugin>)>,
}

/// The custom APIs callable on this node and the plug-ins registered by `typename`.
#[derive(Default)]
pub struct Registry {
    /// Custom APIs registered in code, by unique name (case-sensitive, as Dataverse).
    apis: RwLock<HashMap<String, Arc<CustomApi>>>,
    /// Native plug-ins by type name.
    plugins: RwLock<HashMap<String, Arc<dyn Plugin>>>,
    /// Where definition rows come from; unset for a registry used without a store.
    rows: OnceLock<RowSource>,
    /// The definitions read from the rows.
    loaded: RwLock<Arc<Loaded>>,
    /// One reload at a time; the others wait and use its result.
    reload: tokio::sync::Mutex<()>,
    /// Set by a definition write on this node: the next lookup reloads whatever the stamp says.
    stale: AtomicBool,
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
        crate::sample::register(&r);
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

    /// Lets the registry read definition rows from `store` (done once by the engine).
    pub(crate) fn attach(
        &self,
        store: Arc<dyn Store>,
        catalogue: Arc<Catalogue>,
        outbound: Option<Arc<Outbound>>,
    ) {
        let _ = self.rows.set(RowSource {
            store,
            catalogue,
            outbound,
        });
    }

    fn loaded(&self) -> Arc<Loaded> {
        self.loaded.read().map(|l| l.clone()).unwrap_or_default()
    }

    /// The custom API named `name` as last read, without checking the store: a definition
    /// changed on another node may not show yet. Use [`Registry::resolve`] before running one.
    pub fn api(&self, name: &str) -> Option<Arc<CustomApi>> {
        if let Some(api) = self.apis.read().ok()?.get(name) {
            return Some(api.clone());
        }
        self.loaded().apis.get(name).cloned()
    }

    /// The custom API named `name`, current on every node: a name not registered in code is
    /// looked up after checking (one read) that the definition rows did not change.
    pub async fn resolve(&self, name: &str) -> Option<Arc<CustomApi>> {
        if let Some(api) = self.apis.read().ok()?.get(name) {
            return Some(api.clone());
        }
        if let Err(e) = self.refresh().await {
            tracing::warn!(error = %e, "custom API definitions could not be reread; using the last ones read");
        }
        self.loaded().apis.get(name).cloned()
    }

    /// Every custom API as last read (registered in code, then defined by rows), sorted by
    /// unique name.
    pub fn apis(&self) -> Vec<Arc<CustomApi>> {
        let mut all: Vec<Arc<CustomApi>> = self
            .apis
            .read()
            .map(|a| a.values().cloned().collect())
            .unwrap_or_default();
        let code: Vec<String> = all.iter().map(|a| a.unique_name.clone()).collect();
        all.extend(
            self.loaded()
                .apis
                .values()
                .filter(|a| !code.contains(&a.unique_name))
                .cloned(),
        );
        all.sort_by(|a, b| a.unique_name.cmp(&b.unique_name));
        all
    }

    /// Every custom API, current on every node (see [`Registry::resolve`]).
    pub async fn current_apis(&self) -> Vec<Arc<CustomApi>> {
        if let Err(e) = self.refresh().await {
            tracing::warn!(error = %e, "custom API definitions could not be reread; using the last ones read");
        }
        self.apis()
    }

    /// The plug-in registered as `type_name`: a native one, else an HTTP plug-in row as last
    /// read (lookups through [`Registry::resolve`] keep it current).
    pub fn plugin(&self, type_name: &str) -> Option<Arc<dyn Plugin>> {
        if let Some(p) = self.plugins.read().ok()?.get(type_name) {
            return Some(p.clone());
        }
        self.loaded()
            .http_plugins
            .get(type_name)
            .map(|(_, p)| p.clone())
    }

    /// The names of the custom APIs registered in code.
    pub fn code_api_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .apis
            .read()
            .map(|a| a.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The custom APIs registered in code, sorted by unique name.
    pub fn code_apis(&self) -> Vec<Arc<CustomApi>> {
        let mut apis: Vec<Arc<CustomApi>> = self
            .apis
            .read()
            .map(|a| a.values().cloned().collect())
            .unwrap_or_default();
        apis.sort_by(|a, b| a.unique_name.cmp(&b.unique_name));
        apis
    }

    /// The type names of the native plug-ins, sorted.
    pub fn native_plugin_types(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .plugins
            .read()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The URL policy HTTP plug-in endpoints must follow: the outbound client's, or the strict
    /// default when there is none.
    pub(crate) fn url_policy(&self) -> bgops_core::outbound_url::UrlPolicy {
        self.rows
            .get()
            .and_then(|s| s.outbound.as_ref())
            .map(|o| *o.policy())
            .unwrap_or_default()
    }

    /// Marks the definitions read as outdated: called after a definition write on this node.
    pub fn invalidate(&self) {
        self.stale.store(true, Ordering::Release);
    }

    /// The definition rows, current: what the rules check a write against.
    pub(crate) async fn definition_rows(&self) -> Result<Arc<DefinitionRows>, StoreError> {
        self.refresh().await?;
        Ok(self.loaded().rows.clone())
    }

    /// Rereads the definition rows if their stamp moved since the last read (or a write on
    /// this node marked them outdated).
    async fn refresh(&self) -> Result<(), StoreError> {
        let Some(source) = self.rows.get() else {
            return Ok(());
        };
        let tables = load::definition_tables(&source.catalogue);
        let stamp = source.store.tables_stamp(tables.clone()).await?;
        if !self.stale.load(Ordering::Acquire) && self.loaded().stamp == Some(stamp) {
            return Ok(());
        }
        let _one_at_a_time = self.reload.lock().await;
        // Another task may have reloaded while this one waited.
        let stamp = source.store.tables_stamp(tables).await?;
        let was_stale = self.stale.swap(false, Ordering::AcqRel);
        let previous = self.loaded();
        if !was_stale && previous.stamp == Some(stamp) {
            return Ok(());
        }
        let rows = match load::definition_rows(source.store.as_ref(), &source.catalogue).await {
            Ok(rows) => rows,
            Err(e) => {
                self.stale.store(true, Ordering::Release);
                return Err(e);
            }
        };
        let loaded = self.build(source, &previous, rows, stamp);
        if let Ok(mut slot) = self.loaded.write() {
            *slot = Arc::new(loaded);
        }
        Ok(())
    }

    /// Turns rows into runnable definitions.
    fn build(
        &self,
        source: &RowSource,
        previous: &Loaded,
        rows: DefinitionRows,
        stamp: TablesStamp,
    ) -> Loaded {
        let code = self.code_api_names();
        let apis = rows
            .custom_apis()
            .into_iter()
            .filter(|a| !code.contains(&a.unique_name))
            .map(|a| (a.unique_name.clone(), Arc::new(a)))
            .collect();
        let mut http_plugins = HashMap::new();
        for (typename, url) in rows.http_plugin_types() {
            if let Some((old_url, plugin)) = previous.http_plugins.get(&typename) {
                if *old_url == url {
                    http_plugins.insert(typename, (url, plugin.clone()));
                    continue;
                }
            }
            let Some(outbound) = &source.outbound else {
                tracing::warn!(%typename, "HTTP plug-in type cannot run: this service sends no HTTP requests");
                continue;
            };
            match HttpPlugin::new(&url, outbound.clone()) {
                Ok(plugin) => {
                    let plugin: Arc<dyn Plugin> = Arc::new(plugin);
                    http_plugins.insert(typename, (url, plugin));
                }
                Err(e) => {
                    tracing::warn!(%typename, %url, error = %e, "HTTP plug-in endpoint refused by the URL policy");
                }
            }
        }
        Loaded {
            stamp: Some(stamp),
            rows: Arc::new(rows),
            apis,
            http_plugins,
        }
    }
}
