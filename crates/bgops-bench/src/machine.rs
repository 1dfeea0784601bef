//! What machine a run is on: cores, memory, CPU model, the disk under the work directory, and
//! the SQLite version both bgops and the anchors link.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

/// The machine, as JSON: `nproc`, memory, CPU model, `df -h` of `workdir`, kernel, SQLite.
pub fn describe(workdir: &Path) -> Value {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_total_kb: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown".to_owned(), |(_, v)| v.trim().to_owned());
    let df = Command::new("df")
        .arg("-h")
        .arg(workdir)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| {
            s.lines()
                .last()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    json!({
        "nproc": nproc,
        "mem_total_gib": mem_total_kb as f64 / 1024.0 / 1024.0,
        "cpu": cpu,
        "df": df,
        "kernel": kernel,
        "sqlite": rusqlite::version(),
    })
}

/// The machine in one line.
pub fn one_line(m: &Value) -> String {
    format!(
        "nproc {} · memory {:.1} GiB · CPU {} · disk (df -h: fs size used avail use% mount) {} · kernel {} · SQLite {}",
        m["nproc"],
        m["mem_total_gib"].as_f64().unwrap_or(0.0),
        m["cpu"].as_str().unwrap_or(""),
        m["df"].as_str().unwrap_or(""),
        m["kernel"].as_str().unwrap_or(""),
        m["sqlite"].as_str().unwrap_or(""),
    )
}
