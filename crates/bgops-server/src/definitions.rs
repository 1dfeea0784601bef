//! Custom API definitions at start-up: the plug-ins and custom APIs registered in code become
//! rows of the definition tables, and the `--custom-apis` file is applied (see
//! `docs/custom-apis.example.toml`), before the service accepts requests.

use std::path::Path;

use bgops_engine::definitions::DefinitionError;
use bgops_engine::Engine;

use crate::app::RunError;

fn reason(e: DefinitionError) -> String {
    match e {
        DefinitionError::Api(e) => e.message,
        DefinitionError::Store(e) => e.to_string(),
    }
}

/// Publishes the definitions registered in code and applies the custom API file, if any.
pub async fn apply(engine: &Engine, file: Option<&Path>) -> Result<(), RunError> {
    let definitions = engine.definitions();
    definitions.publish_native().await.map_err(|e| {
        RunError::Definitions(format!(
            "cannot write the built-in custom APIs as rows: {}",
            reason(e)
        ))
    })?;
    let Some(path) = file else {
        return Ok(());
    };
    let fail =
        |why: String| RunError::Definitions(format!("custom API file {}: {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let declared = bgops_core::custom_api_file::parse(&text).map_err(|e| fail(e.to_string()))?;
    let summary = definitions
        .apply_file(&declared)
        .await
        .map_err(|e| fail(reason(e)))?;
    tracing::info!(
        file = %path.display(),
        created = summary.created,
        updated = summary.updated,
        deleted = summary.deleted,
        "custom API file applied"
    );
    Ok(())
}
