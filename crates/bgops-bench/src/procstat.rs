//! What the kernel says a process used: CPU time from `/proc/<pid>/stat` and peak resident
//! memory from `/proc/<pid>/status`. Used to charge every scenario with the CPU of all the
//! processes involved (the server, an anchor server, and the harness itself).

use std::time::Instant;

use anyhow::{anyhow, Context, Result};

/// Clock ticks per second, the unit of `utime`/`stime` in `/proc/<pid>/stat`.
pub fn ticks_per_second() -> f64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as f64,
        _ => 100.0,
    }
}

/// User plus system CPU seconds used so far by every thread of `pid` (`None`: this process).
pub fn cpu_seconds(pid: Option<u32>) -> Result<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) may hold spaces; the fields after its closing ')' are fixed.
    let rest = text
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("unexpected {path}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    let utime: f64 = fields
        .get(11)
        .ok_or_else(|| anyhow!("short {path}"))?
        .parse()?;
    let stime: f64 = fields
        .get(12)
        .ok_or_else(|| anyhow!("short {path}"))?
        .parse()?;
    Ok((utime + stime) / ticks_per_second())
}

/// CPU seconds the whole machine spent busy so far, all cores together (`/proc/stat`: user,
/// nice, system, irq, softirq, steal). Charged against the processes measured, it shows how
/// much other load a scenario shared the machine with.
pub fn machine_busy_seconds() -> f64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().next() else {
        return 0.0;
    };
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 8 {
        return 0.0;
    }
    // user nice system idle iowait irq softirq steal
    (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / ticks_per_second()
}

/// Peak and current resident set size of `pid`, in bytes (`VmHWM`, `VmRSS`).
pub fn memory(pid: u32) -> Result<(u64, u64)> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let field = |name: &str| -> Result<u64> {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .ok_or_else(|| anyhow!("no {name} in {path}"))?;
        let kb: u64 = line
            .split_whitespace()
            .nth(1)
            .ok_or_else(|| anyhow!("bad {name} line"))?
            .parse()?;
        Ok(kb * 1024)
    };
    Ok((field("VmHWM:")?, field("VmRSS:")?))
}

/// CPU used by a set of processes over one measured interval.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct CpuUse {
    /// CPU seconds of the measured server processes (bgops or an anchor server).
    pub server: f64,
    /// CPU seconds of the harness process (load generator, and in-process anchors).
    pub bench: f64,
    /// Wall-clock seconds of the interval.
    pub wall: f64,
    /// CPU seconds that other processes on the machine used meanwhile (noise).
    pub others: f64,
}

impl CpuUse {
    /// All processes together.
    pub fn total(&self) -> f64 {
        self.server + self.bench
    }

    /// CPU seconds per 1,000 operations.
    pub fn per_thousand(&self, ops: usize) -> f64 {
        if ops == 0 {
            return f64::NAN;
        }
        self.total() * 1000.0 / ops as f64
    }

    /// Cores' worth of CPU that other processes used on average during the interval.
    pub fn other_cores(&self) -> f64 {
        self.others / self.wall
    }
}

/// Samples the CPU of some processes and of this one at the start of an interval.
pub struct CpuMeter {
    /// The server processes charged to the interval.
    pids: Vec<u32>,
    /// Their CPU seconds at the start.
    start_servers: f64,
    /// This process's CPU seconds at the start.
    start_self: f64,
    /// The machine's busy CPU seconds at the start.
    start_machine: f64,
    /// When the interval began.
    started: Instant,
}

impl CpuMeter {
    /// Starts measuring `pids` (may be empty) and this process.
    pub fn start(pids: &[u32]) -> Self {
        Self {
            pids: pids.to_vec(),
            start_servers: servers_cpu(pids),
            start_self: cpu_seconds(None).unwrap_or(0.0),
            start_machine: machine_busy_seconds(),
            started: Instant::now(),
        }
    }

    /// Like [`CpuMeter::start`], but charges `pids` with all the CPU they ever used: for a
    /// server started just before, whose start-up belongs to the interval.
    pub fn start_from_zero(pids: &[u32]) -> Self {
        Self {
            start_servers: 0.0,
            ..Self::start(pids)
        }
    }

    /// Adds a process started after this meter, charged with all the CPU it ever used.
    pub fn add_new_process(&mut self, pid: u32) {
        self.pids.push(pid);
    }

    /// The CPU used since [`CpuMeter::start`]. Call while the processes still run.
    pub fn stop(&self) -> CpuUse {
        let server = servers_cpu(&self.pids) - self.start_servers;
        let bench = cpu_seconds(None).unwrap_or(0.0) - self.start_self;
        let machine = machine_busy_seconds() - self.start_machine;
        CpuUse {
            server,
            bench,
            wall: self.started.elapsed().as_secs_f64(),
            others: (machine - server - bench).max(0.0),
        }
    }
}

fn servers_cpu(pids: &[u32]) -> f64 {
    pids.iter()
        .map(|p| cpu_seconds(Some(*p)).unwrap_or(0.0))
        .sum()
}

/// What the scheduler counted for the threads of one process, summed by thread name
/// (`/proc/<pid>/task/*/schedstat`, nanoseconds): time on a core, time runnable but waiting
/// for one, and how many times each went on a core. Threads named alike (a runtime's workers)
/// are one group.
#[derive(Clone, Debug, Default)]
pub struct ThreadTimes(pub std::collections::BTreeMap<String, SchedStat>);

/// One group of threads' scheduler counts.
#[derive(Clone, Copy, Debug, Default)]
pub struct SchedStat {
    /// Nanoseconds on a core.
    pub on_cpu_ns: u64,
    /// Nanoseconds runnable, waiting for a core.
    pub waited_ns: u64,
    /// Times put on a core.
    pub slices: u64,
}

impl ThreadTimes {
    /// The counts of every thread of `pid` now (threads that ended are gone from them).
    pub fn read(pid: u32) -> Result<Self> {
        let mut groups = std::collections::BTreeMap::<String, SchedStat>::new();
        let dir = format!("/proc/{pid}/task");
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
            let task = entry?.path();
            // A thread may end between the listing and the reads: skip it.
            let (Ok(comm), Ok(stat)) = (
                std::fs::read_to_string(task.join("comm")),
                std::fs::read_to_string(task.join("schedstat")),
            ) else {
                continue;
            };
            let v: Vec<u64> = stat
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            let [on, waited, slices] = v[..] else {
                continue;
            };
            let g = groups.entry(comm.trim().to_owned()).or_default();
            g.on_cpu_ns += on;
            g.waited_ns += waited;
            g.slices += slices;
        }
        Ok(Self(groups))
    }

    /// What each group used since `before` (groups that used nothing are left out).
    pub fn since(&self, before: &Self) -> Self {
        let mut out = std::collections::BTreeMap::new();
        for (name, now) in &self.0 {
            let b = before.0.get(name).copied().unwrap_or_default();
            let d = SchedStat {
                on_cpu_ns: now.on_cpu_ns.saturating_sub(b.on_cpu_ns),
                waited_ns: now.waited_ns.saturating_sub(b.waited_ns),
                slices: now.slices.saturating_sub(b.slices),
            };
            if d.on_cpu_ns > 0 {
                out.insert(name.clone(), d);
            }
        }
        Self(out)
    }

    /// One line: each group's milliseconds on a core, waiting for one, and times on one.
    pub fn describe(&self) -> String {
        let mut groups: Vec<_> = self.0.iter().collect();
        groups.sort_by_key(|g| std::cmp::Reverse(g.1.on_cpu_ns));
        groups
            .iter()
            .map(|(name, s)| {
                format!(
                    "{name} {:.0} ms on a core, {:.0} ms waiting for one, {} slices",
                    s.on_cpu_ns as f64 / 1e6,
                    s.waited_ns as f64 / 1e6,
                    s.slices
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_cpu_and_memory() {
        let before = cpu_seconds(None).unwrap();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        assert!(cpu_seconds(None).unwrap() >= before);
        let (hwm, rss) = memory(std::process::id()).unwrap();
        assert!(hwm >= rss && rss > 0);
    }

    #[test]
    fn counts_own_threads_by_name() {
        let pid = std::process::id();
        let before = ThreadTimes::read(pid).unwrap();
        let spin = std::thread::Builder::new()
            .name("procstat-spin".into())
            .spawn(|| {
                let mut x = 0u64;
                for i in 0..50_000_000u64 {
                    x = x.wrapping_mul(31).wrapping_add(i);
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
                x
            })
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let during = ThreadTimes::read(pid).unwrap().since(&before);
        assert!(spin.join().unwrap() != 1);
        let g = during
            .0
            .get("procstat-spin")
            .expect("the spinning thread is counted");
        assert!(g.on_cpu_ns > 0 && g.slices > 0);
        assert!(during.describe().contains("procstat-spin"));
    }
}
