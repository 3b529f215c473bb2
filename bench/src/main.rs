//! `streamable-bench`: a load tester for any MCP Streamable HTTP server.
//!
//! ```text
//! streamable-bench --url http://127.0.0.1:8000/mcp --mode json -c 32 -d 10
//! streamable-bench --url ... --mode sse-stream -c 1000 --events 10 --interval-ms 100
//! streamable-bench --url ... --mode sessions --sessions 10000,100000 --pid 1234
//! streamable-bench --url ... --mode modern          # 2026-07-28 stateless requests
//! streamable-bench report results.jsonl             # the comparison table
//! streamable-bench --url ... --mode json --pid 1234 --driver-metrics /tmp/d  # serial fraction
//! ```
//!
//! Every connection is its own HTTP/1.1 keep-alive connection with its own
//! MCP session (modes other than `modern`), sending one request at a time
//! with ids unique across the run. Figures are taken after a warm-up and for
//! a bounded duration; with `--pid` the server's CPU time (and in `sessions`
//! mode its RSS) is read from `/proc`, and the tester always reports its own
//! CPU time so a saturated load generator is visible. Each run prints a table
//! and, with `--out`, appends one JSON line.

mod conn;
mod modes;
mod report;
mod stats;

use std::process::ExitCode;
use std::time::Duration;

/// What to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `tools/call` of `echo`, round trips per second and latency.
    Json,
    /// `tools/call` of `countdown` with progress: SSE event delivery.
    SseStream,
    /// Open idle sessions and read the server's RSS.
    Sessions,
    /// `tools/call` of `echo` as 2026-07-28 stateless requests.
    Modern,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Json => "json",
            Mode::SseStream => "sse-stream",
            Mode::Sessions => "sessions",
            Mode::Modern => "modern",
        }
    }
}

/// The run's settings (see `--help`).
#[derive(Clone, Debug)]
struct Settings {
    url: String,
    mode: Mode,
    connections: usize,
    duration: Duration,
    warmup: Duration,
    threads: usize,
    pid: Option<String>,
    label: String,
    role: String,
    out: Option<String>,
    protocol: String,
    events: u32,
    interval_ms: u64,
    sessions: Vec<usize>,
    timeout: Duration,
    text: String,
    check: bool,
    /// A file the server rewrites with `<driver busy ns> <polls>` (our
    /// example server's `--metrics-file`, feature `driver-metrics`).
    driver_metrics: Option<String>,
}

const USAGE: &str = "usage: streamable-bench --url URL [--mode json|sse-stream|sessions|modern]
  [-c|--connections N=32] [-d|--duration SECS=10] [--warmup SECS=1] [--threads N=1]
  [--pid PID] [--label NAME] [--role ours|reference|peer] [--out FILE.jsonl]
  [--protocol VERSION=2025-11-25] [--events N=10] [--interval-ms MS=100]
  [--sessions N[,N..]=10000] [--timeout SECS=10] [--text STR] [--check]
  [--driver-metrics FILE]  (our server's --metrics-file: driver time per call, Amdahl projection)
       streamable-bench report FILE.jsonl";

fn parse(args: Vec<String>) -> Result<Settings, String> {
    let mut s = Settings {
        url: String::new(),
        mode: Mode::Json,
        connections: 32,
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(1),
        threads: 1,
        pid: None,
        label: String::new(),
        role: "peer".into(),
        out: None,
        protocol: "2025-11-25".into(),
        events: 10,
        interval_ms: 100,
        sessions: vec![10_000],
        timeout: Duration::from_secs(10),
        text: "hello".into(),
        check: false,
        driver_metrics: None,
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        let secs = |v: String| {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| format!("{v}: not a number of seconds"))
        };
        let num = |v: String| v.parse::<u64>().map_err(|_| format!("{v}: not a number"));
        match a.as_str() {
            "--url" => s.url = val()?,
            "--mode" => {
                s.mode = match val()?.as_str() {
                    "json" => Mode::Json,
                    "sse-stream" | "sse" => Mode::SseStream,
                    "sessions" => Mode::Sessions,
                    "modern" => Mode::Modern,
                    m => return Err(format!("unknown mode {m:?}")),
                }
            }
            "-c" | "--connections" => s.connections = num(val()?)?.max(1) as usize,
            "-d" | "--duration" => s.duration = secs(val()?)?,
            "--warmup" => s.warmup = secs(val()?)?,
            "--threads" => s.threads = num(val()?)?.max(1) as usize,
            "--pid" => s.pid = Some(val()?),
            "--label" => s.label = val()?,
            "--role" => s.role = val()?,
            "--out" => s.out = Some(val()?),
            "--protocol" => s.protocol = val()?,
            "--events" => s.events = num(val()?)?.clamp(1, 10_000) as u32,
            "--interval-ms" => s.interval_ms = num(val()?)?,
            "--sessions" => {
                let v = val()?;
                let mut list = Vec::new();
                for p in v.split(',') {
                    list.push(num(p.to_owned())? as usize);
                }
                list.sort_unstable();
                s.sessions = list;
            }
            "--timeout" => s.timeout = secs(val()?)?,
            "--text" => s.text = val()?,
            "--check" => s.check = true,
            "--driver-metrics" => s.driver_metrics = Some(val()?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if s.url.is_empty() {
        return Err("--url is required".into());
    }
    if s.text.contains(['"', '\\']) || s.text.chars().any(char::is_control) {
        return Err("--text must not need JSON escaping".into());
    }
    if s.label.is_empty() {
        s.label = s.url.clone();
    }
    Ok(s)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("report") {
        return match args.get(1) {
            Some(file) => match report::print(file) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("report: {e}");
                    ExitCode::FAILURE
                }
            },
            None => {
                eprintln!("{USAGE}");
                ExitCode::from(2)
            }
        };
    }
    let settings = match parse(args) {
        Ok(s) => s,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rt = if settings.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(settings.threads)
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(modes::run(&settings));
    let result = match result {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{}: {e}", settings.label);
            return ExitCode::FAILURE;
        }
    };
    println!("{}", report::row(&result));
    if let Some(path) = &settings.out {
        use std::io::Write;
        let line = format!("{result}\n");
        let w = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = w {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    if settings.check && result["ok"].as_u64().unwrap_or(0) == 0 {
        eprintln!("--check: no successful call was counted");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_settings() {
        let s = parse(args(
            "--url http://127.0.0.1:1/mcp --mode sessions --sessions 100000,10000 -c 4 -d 0.5",
        ))
        .unwrap();
        assert_eq!(s.mode, Mode::Sessions);
        assert_eq!(s.sessions, vec![10_000, 100_000]);
        assert_eq!(s.connections, 4);
        assert_eq!(s.duration, Duration::from_millis(500));
        assert!(parse(args("--mode json")).is_err());
        assert!(parse(args("--url http://x/ --mode nope")).is_err());
        assert!(parse(args("--url http://x/ --text a\"b")).is_err());
    }
}
