//! The diagnostic plug-ins behind `bgops_Echo`, `bgops_Delay` and `bgops_Fail` (SPEC §1).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bgops_core::custom_api::diagnostics;
use bgops_core::{ErrorCode, ParamValue, Parameters};

use crate::plugin::{Plugin, PluginContext, PluginError};
use crate::registry::Registry;

/// Registers the three diagnostic APIs and their plug-ins.
pub fn register(registry: &Registry) {
    for api in diagnostics::all() {
        let plugin: Arc<dyn Plugin> = match api.unique_name.as_str() {
            diagnostics::ECHO => Arc::new(Echo),
            diagnostics::DELAY => Arc::new(Delay),
            _ => Arc::new(Fail),
        };
        registry.add_plugin(api.plugin_type.clone(), plugin);
        registry.add_api(api);
    }
}

/// Echoes `Text`, `Number` and `Flag` back as response properties.
pub struct Echo;

#[async_trait]
impl Plugin for Echo {
    async fn execute(&self, ctx: PluginContext) -> Result<Parameters, PluginError> {
        Ok(ctx.inputs)
    }
}

/// Sleeps `DelayMs`; stops at once when canceled.
pub struct Delay;

#[async_trait]
impl Plugin for Delay {
    async fn execute(&self, ctx: PluginContext) -> Result<Parameters, PluginError> {
        let ms = ctx
            .inputs
            .get("DelayMs")
            .and_then(ParamValue::as_i32)
            .unwrap_or(0)
            .max(0);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms as u64)) => {}
            _ = ctx.cancel.cancelled() => return Err(PluginError::Canceled),
        }
        let mut out = Parameters::default();
        out.set("DelayedMs", ParamValue::Integer(ms));
        Ok(out)
    }
}

/// Fails its first `FailTimes` attempts with `ErrorCode` and `Message`, then succeeds and
/// reports how many attempts ran.
pub struct Fail;

#[async_trait]
impl Plugin for Fail {
    async fn execute(&self, ctx: PluginContext) -> Result<Parameters, PluginError> {
        let fail_times = ctx
            .inputs
            .get("FailTimes")
            .and_then(ParamValue::as_i32)
            .unwrap_or(0);
        let attempt = i32::try_from(ctx.attempt).unwrap_or(i32::MAX);
        if attempt <= fail_times {
            let message = ctx
                .inputs
                .get("Message")
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| format!("bgops_Fail: attempt {attempt} fails as asked."));
            return Err(PluginError::Failed {
                message,
                code: ctx
                    .inputs
                    .get("ErrorCode")
                    .and_then(ParamValue::as_i32)
                    .map(ErrorCode::from_i32),
                permanent: ctx
                    .inputs
                    .get("Permanent")
                    .and_then(ParamValue::as_bool)
                    .unwrap_or(false),
            });
        }
        let mut out = Parameters::default();
        out.set("Attempts", ParamValue::Integer(attempt));
        Ok(out)
    }
}
