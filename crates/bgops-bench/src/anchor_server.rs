//! The HTTP anchor: an axum hello-world on the same runtime setup as bgops (tokio's default
//! multi-threaded runtime). Every path answers `Hello, World!`, so the harness loads it with
//! exactly the requests it sends to the status monitor.

use std::net::SocketAddr;

use anyhow::Result;
use axum::Router;

/// Serves hello-world on `listen` until SIGTERM; prints `anchor listening on http://ADDR`.
pub async fn serve(listen: SocketAddr) -> Result<()> {
    let app = Router::new().fallback(|| async { "Hello, World!" });
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("anchor listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            if let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                term.recv().await;
            }
        })
        .await?;
    Ok(())
}
