//! Embedding bgops in your own program: define a custom API in code, implement its plug-in in
//! Rust, and serve it with everything else bgops does (background submission, retries,
//! cancellation, the status monitor, the tables).
//!
//! ```sh
//! cargo run -p bgops-server --example embedded -- 127.0.0.1:8081 embedded.db my-token
//! curl -s -X POST http://127.0.0.1:8081/api/data/v9.2/contoso_Greet \
//!      -H 'Authorization: Bearer my-token' -H 'Content-Type: application/json' \
//!      -d '{"Name":"Ada"}'
//! # {"@odata.context":"…#Microsoft.Dynamics.CRM.contoso_GreetResponse","Greeting":"Hello, Ada!"}
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use bgops_core::{
    CustomApi, ParamType, ParamValue, Parameters, RequestParameter, ResponseProperty,
};
use bgops_engine::{EngineConfig, Plugin, PluginContext, PluginError, Registry};
use bgops_server::{ServerConfig, Settings};
use tokio_util::sync::CancellationToken;

/// The plug-in: greets `Name`, or refuses (permanently: retrying will not help) when it is
/// empty.
struct Greeter;

#[async_trait]
impl Plugin for Greeter {
    async fn execute(&self, ctx: PluginContext) -> Result<Parameters, PluginError> {
        let name = ctx
            .inputs
            .get("Name")
            .and_then(ParamValue::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned();
        if name.is_empty() {
            return Err(PluginError::permanent("Name must not be empty."));
        }
        let mut out = Parameters::default();
        out.set("Greeting", ParamValue::String(format!("Hello, {name}!")));
        Ok(out)
    }
}

/// The custom API's definition: one required String in, one String out.
fn greet_api() -> CustomApi {
    CustomApi {
        unique_name: "contoso_Greet".into(),
        display_name: "Greet".into(),
        is_function: false,
        request_parameters: vec![RequestParameter {
            name: "Name".into(),
            param_type: ParamType::String,
            optional: false,
        }],
        response_properties: vec![ResponseProperty {
            name: "Greeting".into(),
            param_type: ParamType::String,
        }],
        plugin_type: "Contoso.Plugins.Greeter".into(),
        execute_privilege: None,
        attempt_timeout: None,
        max_retries: None,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8081".into());
    let db = args.next().unwrap_or_else(|| "embedded.db".into());
    let token = args.next().unwrap_or_else(|| "embedded-token".into());

    let registry = Registry::with_builtins();
    registry.add_plugin("Contoso.Plugins.Greeter", Arc::new(Greeter));
    registry.add_api(greet_api());

    let settings = Settings {
        database_url: format!("sqlite://{db}"),
        database_password_file: None,
        admin_token: Some(token),
        engine: EngineConfig::default(),
        server: ServerConfig::default(),
        demo_data: false,
        custom_apis: None,
        outbound: Default::default(),
        webhook_secret: None,
        edge: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    bgops_server::run_with_registry(settings, registry, listener, shutdown).await?;
    Ok(())
}
