//! The run's summary (one JSON line on stdout, a human one on stderr) and the servers' CPU time
//! and memory from /proc.

use std::{collections::BTreeMap, path::Path};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// Linux reports CPU time in clock ticks of 1/100 s (USER_HZ) on every mainstream architecture.
const TICKS_PER_SEC: f64 = 100.0;

/// Percentiles of a histogram of microseconds, in milliseconds.
pub struct Latency {
    count: u64,
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            return Self { count: 0, p50: 0.0, p99: 0.0, p999: 0.0, max: 0.0 };
        }
        Self {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.5)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }

    fn json(&self) -> Value {
        json!({"count": self.count, "p50Ms": round(self.p50), "p99Ms": round(self.p99), "p999Ms": round(self.p999), "maxMs": round(self.max)})
    }
}

/// One server process at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pid: u32,
    cpu_ticks: u64,
    rss_kib: u64,
    peak_kib: u64,
}

/// Reads each process's CPU time and memory; a process that is gone is left out.
pub fn sample(pids: &[u32]) -> Vec<Sample> {
    pids.iter().filter_map(|&pid| sample_one(pid).map_err(|e| eprintln!("chat-load: pid {pid}: {e:#}")).ok()).collect()
}

fn sample_one(pid: u32) -> Result<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).context("reading stat")?;
    // Fields after the command (which may hold spaces) in parentheses: state is the first, then
    // utime and stime are the 12th and 13th (fields 14 and 15 of proc(5)).
    let rest: Vec<&str> = stat.rsplit_once(')').context("stat without a command")?.1.split_whitespace().collect();
    let tick = |i: usize| -> Result<u64> { rest.get(i).context("short stat")?.parse().context("stat field") };
    let cpu_ticks = tick(11)? + tick(12)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading status")?;
    let kib = |key: &str| {
        status.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    Ok(Sample { pid, cpu_ticks, rss_kib: kib("VmRSS:"), peak_kib: kib("VmHWM:") })
}

/// CPU use over `secs` between two samples (100% = one core), and memory before and after.
pub fn usage(before: &[Sample], after: &[Sample], secs: f64) -> Vec<Value> {
    after
        .iter()
        .filter_map(|a| {
            let b = before.iter().find(|b| b.pid == a.pid)?;
            let cpu = (a.cpu_ticks.saturating_sub(b.cpu_ticks)) as f64 / TICKS_PER_SEC / secs.max(1e-3) * 100.0;
            Some(json!({
                "pid": a.pid,
                "cpuPercent": (cpu * 10.0).round() / 10.0,
                "rssBeforeMib": mib(b.rss_kib),
                "rssAfterMib": mib(a.rss_kib),
                "rssPeakMib": mib(a.peak_kib),
            }))
        })
        .collect()
}

fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

fn round(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

pub struct Summary {
    pub label: String,
    pub sockets: usize,
    pub connected: usize,
    pub rate: f64,
    pub secs: f64,
    pub connect_secs: f64,
    pub sent: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub unacked: u64,
    pub foreign: u64,
    pub send_errors: u64,
    pub connect_errors: u64,
    pub error_frames: BTreeMap<String, u64>,
    /// Sockets that ended before the run did, by how.
    pub ended: BTreeMap<String, u64>,
    pub sent_per_sec: f64,
    pub delivered_per_sec: f64,
    pub latency: Latency,
    pub echo: Latency,
    pub servers: Vec<Value>,
}

impl Summary {
    /// Every failure that is the server's: sockets that failed to open or ended early, sends that
    /// failed, error frames, another room's messages.
    fn errors(&self) -> u64 {
        self.connect_errors + self.send_errors + self.error_frames.values().sum::<u64>() + self.ended.values().sum::<u64>() + self.foreign
    }

    pub fn print(&self, out: Option<&Path>) -> Result<()> {
        let json = json!({
            "label": self.label,
            "sockets": self.sockets,
            "connected": self.connected,
            "ratePerSocket": self.rate,
            "secs": self.secs,
            "connectSecs": round(self.connect_secs),
            "sent": self.sent,
            "delivered": self.delivered,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "unacked": self.unacked,
            "errors": self.errors(),
            "connectErrors": self.connect_errors,
            "sendErrors": self.send_errors,
            "foreign": self.foreign,
            "errorFrames": self.error_frames,
            "endedEarly": self.ended,
            "sentPerSec": (self.sent_per_sec * 10.0).round() / 10.0,
            "deliveredPerSec": (self.delivered_per_sec * 10.0).round() / 10.0,
            "latency": self.latency.json(),
            "echo": self.echo.json(),
            "servers": self.servers,
        });
        let line = serde_json::to_string(&json)?;
        println!("{line}");
        if let Some(out) = out {
            std::fs::write(out, format!("{line}\n")).with_context(|| format!("writing {}", out.display()))?;
        }
        let l = &self.latency;
        eprintln!(
            "chat-load [{}]: {} sockets ({} connected in {:.1} s), {}/s each for {} s: sent {} ({:.0}/s), delivered {} ({:.0}/s), \
             lost {}, duplicates {}, unacked {}, errors {}",
            self.label,
            self.sockets,
            self.connected,
            self.connect_secs,
            self.rate,
            self.secs,
            self.sent,
            self.sent_per_sec,
            self.delivered,
            self.delivered_per_sec,
            self.lost,
            self.duplicates,
            self.unacked,
            self.errors()
        );
        eprintln!(
            "chat-load [{}]: send -> partner's receipt p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms; own echo p99 {:.3} ms",
            self.label, l.p50, l.p99, l.p999, l.max, self.echo.p99
        );
        for (what, n) in self.error_frames.iter().chain(&self.ended) {
            eprintln!("chat-load [{}]: {n} x {what}", self.label);
        }
        for s in &self.servers {
            eprintln!("chat-load [{}]: server {s}", self.label);
        }
        Ok(())
    }
}
