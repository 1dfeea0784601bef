//! Issue 14's costs at the edge: the status poll and submissions with bearer JWTs (RS256, keys
//! from a JWKS file) and with many users, each figure beside the same load with one API key in
//! the same run; and the service-protection limiter's cost (a second server with limits so
//! high nothing is refused). The 1,000 users are made over the Web API as an administrator
//! would (`POST systemusers` with an Entra object id, the System Administrator role through
//! `systemuserroles_association/$ref`, an API key from `bgops_apikeys`), so every case reads
//! the same rows.

use base64::Engine as _;

use super::*;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const AUDIENCE: &str = "https://bgops-bench.example";

/// The credentials of the bench users.
struct Users {
    keys: Vec<String>,
    jwts: Vec<String>,
}

/// A user to create: Entra object id, full name.
type UserRow = (String, String);

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Makes `n` users' RS256 tokens; writes the JWKS file. Their keys come when they are created.
fn make_users(n: usize, jwks: &Path, issuer: &str) -> Result<(Vec<String>, Vec<UserRow>)> {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)?;
    let public = private.to_public_key();
    std::fs::write(
        jwks,
        json!({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "bench",
            "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())}]})
        .to_string(),
    )?;
    let encoding = jsonwebtoken::EncodingKey::from_rsa_der(private.to_pkcs1_der()?.as_bytes());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("bench".to_owned());
    let exp = (now_ms() / 1000.0) as i64 + 3 * 3600;
    let (mut jwts, mut rows) = (Vec::new(), Vec::new());
    for i in 0..n {
        let oid = uuid::Uuid::new_v4().to_string();
        let claims = json!({"iss": issuer, "aud": AUDIENCE, "tid": TENANT, "oid": oid,
            "name": format!("Bench User {i}"), "exp": exp, "nbf": exp - 4 * 3600});
        jwts.push(jsonwebtoken::encode(&header, &claims, &encoding)?);
        rows.push((oid, format!("Bench User {i}")));
    }
    Ok((jwts, rows))
}

/// Creates the users over the Web API as `admin`, each a System Administrator with an API
/// key; returns the keys.
async fn create_users(admin: &Target, rows: &[UserRow]) -> Result<Vec<String>> {
    const API: &str = "/api/data/v9.2";
    let sysadmin = format!(
        "http://{}{API}/roles({})",
        admin.host, "b353149e-4a9b-45fd-9b5b-091fc5e23947"
    );
    let mut keys = Vec::with_capacity(rows.len());
    for (oid, name) in rows {
        let body = json!({ "fullname": name, "azureactivedirectoryobjectid": oid }).to_string();
        let (status, _, text) = load::request_with(
            admin,
            Method::POST,
            &format!("{API}/systemusers"),
            Some(&body),
            &[("Prefer", "return=representation")],
        )
        .await?;
        if status != StatusCode::CREATED {
            bail!("edge: creating {name}: {status}: {text}");
        }
        let user: serde_json::Value = serde_json::from_str(&text)?;
        let id = user["systemuserid"].as_str().context("systemuserid")?;
        let role = json!({ "@odata.id": sysadmin }).to_string();
        let (status, _, text) = load::request_with(
            admin,
            Method::POST,
            &format!("{API}/systemusers({id})/systemuserroles_association/$ref"),
            Some(&role),
            &[],
        )
        .await?;
        if status != StatusCode::NO_CONTENT {
            bail!("edge: giving {name} a role: {status}: {text}");
        }
        let (status, _, text) = load::request_with(
            admin,
            Method::POST,
            &format!("{API}/systemusers({id})/bgops_apikeys"),
            Some(r#"{"name":"bench"}"#),
            &[],
        )
        .await?;
        if status != StatusCode::CREATED {
            bail!("edge: a key for {name}: {status}: {text}");
        }
        let key: serde_json::Value = serde_json::from_str(&text)?;
        keys.push(key["key"].as_str().context("the key")?.to_owned());
    }
    Ok(keys)
}

/// Warm-up: one status request with every token of `target` (each verified and cached by the
/// server), then `extra` requests of the load itself. The server caches a login for 30 s, so
/// every case is warmed right before it is measured.
async fn warm(target: &Target, ids: &Arc<Vec<String>>, concurrency: usize, extra: usize) {
    let tokens: Vec<String> = match &target.tokens {
        Some(all) => all.to_vec(),
        None => vec![target.token.clone()],
    };
    let path = format!("/api/backgroundoperation/{}", ids[0]);
    for token in tokens {
        let one = Target::new(target.addr, &token);
        let _ = load::request(&one, Method::GET, &path, None, false).await;
    }
    load::closed_loop(
        target,
        &Workload::Poll(ids.clone()),
        concurrency,
        Stop::Count(extra),
    )
    .await;
}

/// The mean of a case's rounds: rate and CPU per 1k averaged, latencies of the first round.
fn mean(runs: &[Throughput]) -> Throughput {
    let n = runs.len() as f64;
    let mut t = runs[0].clone();
    t.rate = runs.iter().map(|r| r.rate).sum::<f64>() / n;
    t.cpu_per_1k = runs.iter().map(|r| r.cpu_per_1k).sum::<f64>() / n;
    t
}

fn target_of(addr: std::net::SocketAddr, tokens: &[String], many: bool) -> Target {
    let mut t = Target::new(addr, &tokens[0]);
    if many {
        t.tokens = Some(Arc::new(tokens.to_vec()));
    }
    t
}

/// The edge figures, added to `report`.
pub(super) async fn edge(
    args: &BenchArgs,
    launch: &BgopsLaunch,
    workdir: &Path,
    report: &mut Report,
) -> Result<()> {
    let n_users = if args.quick { 50 } else { 1_000 };
    let issuer = format!("https://login.microsoftonline.com/{TENANT}/v2.0");
    let jwks = workdir.join("edge-jwks.json");
    let (jwts, rows) = make_users(n_users, &jwks, &issuer)?;
    let db_path = workdir.join("edge.db");
    let database = format!("sqlite://{}", db_path.display());
    let jwt_flags: Vec<String> = [
        "--jwt-issuer",
        issuer.as_str(),
        "--jwt-audience",
        AUDIENCE,
        "--jwt-jwks-file",
        jwks.to_str().context("JWKS path")?,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let server = server::start_bgops_with(launch, &database, launch.workers, "edge", &jwt_flags)?;
    let admin = Target::new(server.addr, &launch.token);
    let users = Users {
        keys: create_users(&admin, &rows).await?,
        jwts,
    };
    println!("→ edge: {n_users} users with an API key and an RS256 token each");
    let seed = load::closed_loop(
        &admin,
        &Workload::Submit,
        args.concurrency,
        Stop::Count(500),
    )
    .await;
    let ids: Arc<Vec<String>> = Arc::new(seed.submitted.iter().map(|s| s.id.clone()).collect());
    if ids.is_empty() {
        bail!(
            "edge: no submission accepted: {}",
            seed.first_error.unwrap_or_default()
        );
    }
    let pids = [server.pid];
    let cases = [
        (
            "API key, 1 user",
            target_of(server.addr, &users.keys, false),
        ),
        ("JWT, 1 user", target_of(server.addr, &users.jwts, false)),
        (
            "API keys, many users",
            target_of(server.addr, &users.keys, true),
        ),
        (
            "JWTs, many users",
            target_of(server.addr, &users.jwts, true),
        ),
    ];
    // The poll cases run twice, in order and then in reverse, so the machine's other load
    // weighs on each alike; each figure is the mean of its two rounds.
    let mut poll_rounds: Vec<Vec<Throughput>> = vec![Vec::new(); cases.len()];
    for i in (0..cases.len()).chain((0..cases.len()).rev()) {
        let (name, target) = &cases[i];
        warm(target, &ids, args.concurrency, 1_000).await;
        let t = poll(target, ids.clone(), args, &pids).await;
        println!(
            "edge poll, {name}: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {:.3} CPU s/1k",
            t.rate, t.p50_ms, t.p99_ms, t.cpu_per_1k
        );
        poll_rounds[i].push(t);
    }
    let polls: Vec<(String, Throughput)> = cases
        .iter()
        .zip(poll_rounds)
        .map(|((name, _), runs)| (name.to_string(), mean(&runs)))
        .collect();

    // Submissions alone: every worker is held, so no case runs beside the previous case's
    // operations; the cases run twice, in order and then in reverse, so the queue's growth
    // weighs on each alike, and each figure is the mean of its two rounds.
    let blockers = hold_workers(&admin, launch.workers).await?;
    let count = (args.n / 4).max(100);
    let mut rounds: Vec<Vec<Throughput>> = vec![Vec::new(); cases.len()];
    let order: Vec<usize> = (0..cases.len()).chain((0..cases.len()).rev()).collect();
    for i in order {
        let (name, target) = &cases[i];
        warm(target, &ids, args.concurrency, 0).await;
        let meter = CpuMeter::start(&pids);
        let r = load::closed_loop(
            target,
            &Workload::Submit,
            args.concurrency,
            Stop::Count(count),
        )
        .await;
        let t = Throughput::of(&r, meter.stop());
        println!(
            "edge submit, {name}: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
            t.rate, t.p50_ms, t.p99_ms
        );
        rounds[i].push(t);
    }
    release_workers(&admin, &blockers).await?;
    let submits: Vec<(String, Throughput)> = cases
        .iter()
        .zip(rounds)
        .map(|((name, _), runs)| (name.to_string(), mean(&runs)))
        .collect();
    server.stop(Duration::from_secs(60))?;

    // The limiter: the same users and load on a server with limits nothing reaches.
    let mut limited_flags = jwt_flags.clone();
    limited_flags.extend(
        [
            "--rate-limit-requests",
            "1000000000",
            "--rate-limit-window",
            "300s",
            "--rate-limit-concurrent",
            "100000",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let server = server::start_bgops_with(
        launch,
        &database,
        launch.workers,
        "edge-limited",
        &limited_flags,
    )?;
    let pids = [server.pid];
    let mut limited = Vec::new();
    for (name, many) in [("API key, 1 user", false), ("API keys, many users", true)] {
        let target = target_of(server.addr, &users.keys, many);
        warm(&target, &ids, args.concurrency, 1_000).await;
        let t = poll(&target, ids.clone(), args, &pids).await;
        println!(
            "edge poll with the limiter, {name}: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
            t.rate, t.p50_ms, t.p99_ms
        );
        limited.push((name.to_string(), t));
    }
    server.stop(Duration::from_secs(60))?;

    let base_poll = polls[0].1.rate;
    for (name, t) in polls.iter().skip(1) {
        let ratio = t.rate / base_poll;
        report
            .add(
                "edge",
                &format!("status poll, {name}"),
                Unit::PerSec,
                t.rate,
            )
            .anchor("status poll, API key, 1 user", base_poll)
            .target("within 10% of API key", ratio >= 0.9);
    }
    // Server CPU per request: what a credential costs the server, whatever else loads the
    // machine (the rates above move with the other processes' load).
    let base_cpu = polls[0].1.cpu_per_1k;
    for (name, t) in polls.iter().skip(1) {
        report
            .add(
                "edge",
                &format!("status poll CPU, {name}"),
                Unit::CpuPer1k,
                t.cpu_per_1k,
            )
            .anchor("status poll CPU, API key, 1 user", base_cpu)
            .target("within 10% of API key", t.cpu_per_1k <= base_cpu * 1.1);
    }
    let base_submit = submits[0].1.rate;
    for (name, t) in submits.iter().skip(1) {
        let ratio = t.rate / base_submit;
        report
            .add("edge", &format!("submit, {name}"), Unit::PerSec, t.rate)
            .anchor("submit, API key, 1 user", base_submit)
            .target("within 10% of API key", ratio >= 0.9);
    }
    let base_cpu = submits[0].1.cpu_per_1k;
    for (name, t) in submits.iter().skip(1) {
        report
            .add(
                "edge",
                &format!("submit CPU, {name}"),
                Unit::CpuPer1k,
                t.cpu_per_1k,
            )
            .anchor("submit CPU, API key, 1 user", base_cpu)
            .target("within 10% of API key", t.cpu_per_1k <= base_cpu * 1.1);
    }
    for (i, (name, t)) in limited.iter().enumerate() {
        let without = if i == 0 { &polls[0].1 } else { &polls[2].1 };
        report
            .add(
                "edge",
                &format!("status poll + limiter, {name}"),
                Unit::PerSec,
                t.rate,
            )
            .anchor("same without the limiter", without.rate);
        report
            .add(
                "edge",
                &format!("CPU + limiter, {name}"),
                Unit::CpuPer1k,
                t.cpu_per_1k,
            )
            .anchor("same without the limiter", without.cpu_per_1k);
    }
    report.detail(
        "edge",
        json!({"users": n_users, "poll": polls.iter().map(|(n, t)| json!({"case": n, "run": t})).collect::<Vec<_>>(),
               "submit": submits.iter().map(|(n, t)| json!({"case": n, "run": t})).collect::<Vec<_>>(),
               "limiter": limited.iter().map(|(n, t)| json!({"case": n, "run": t})).collect::<Vec<_>>()}),
    );
    Ok(())
}
