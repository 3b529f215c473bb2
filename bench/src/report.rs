//! Tables: one line per run, and the comparison of a whole results file
//! (rounds averaged, ratios against `hyper-echo` and the fastest peer).

use serde_json::Value;

fn f(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(0.0)
}

fn errors(v: &Value) -> u64 {
    let sum = |m: &Value| {
        m.as_object()
            .map(|o| o.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0u64)
    };
    sum(&v["errors"]) + sum(&v["setup_errors"])
}

/// One run as a line of text (plus the errors by kind, if any).
pub(crate) fn row(v: &Value) -> String {
    let mut line = line(v);
    if errors(v) > 0 {
        line.push_str(&format!(
            "\n    errors: {} setup: {}",
            v["errors"], v["setup_errors"]
        ));
    }
    line
}

fn line(v: &Value) -> String {
    let label = v["label"].as_str().unwrap_or("");
    match v["mode"].as_str().unwrap_or("") {
        "sse-stream" => format!(
            "{label:<18} sse-stream  events/s {:>9.0}  delivery p50 {:>6} p99 {:>7} max {:>7} us  lateness p99 {:>7} us  first p50 {:>6} p99 {:>7} us  spread p99 {:>6} us  server {:>6.1} us/event  tester cpu {:.2}  errors {}",
            f(v, "events_per_s"),
            v["delivery_p50_us"],
            v["delivery_p99_us"],
            v["delivery_max_us"],
            v["lateness_p99_us"],
            v["first_p50_us"],
            v["first_p99_us"],
            v["spread_p99_us"],
            f(v, "server_cpu_us_per_op"),
            f(v, "tester_cpu_util"),
            errors(v)
        ),
        "sessions" => {
            let mut s = format!("{label:<18} sessions   ");
            if let Some(points) = v["points"].as_array() {
                for p in points {
                    s.push_str(&format!(
                        "  {} sessions: RSS {:.1} MiB, {} B/session ({} B marginal), {:.0}/s",
                        p["sessions"],
                        f(p, "rss_bytes") / 1048576.0,
                        p["bytes_per_session"],
                        p["marginal_bytes_per_session"],
                        f(p, "sessions_per_s")
                    ));
                }
            }
            s.push_str(&format!("  errors {}", errors(v)));
            s
        }
        mode => {
            let mut s = format!(
                "{label:<18} {mode:<10}  calls/s {:>9.0}  p50 {:>6} p99 {:>7} max {:>7} us  server {:>7.1} us/call (cpu {:.2})  tester {:>5.1} us/call (cpu {:.2})  errors {}",
                f(v, "calls_per_s"),
                v["p50_us"],
                v["p99_us"],
                v["max_us"],
                f(v, "server_cpu_us_per_op"),
                f(v, "server_cpu_util"),
                f(v, "tester_cpu_us_per_op"),
                f(v, "tester_cpu_util"),
                errors(v)
            );
            if v.get("driver_us_per_op").is_some() {
                s.push_str(&format!(
                    "  driver {:.2} us/call (share {:.2}; one driver on 16 cores: Amdahl {:.0}, bound {:.0} calls/s)",
                    f(v, "driver_us_per_op"),
                    f(v, "driver_share"),
                    f(v, "proj_amdahl_16"),
                    f(v, "proj_bound_16")
                ));
            }
            s
        }
    }
}

/// Runs of one target in one mode.
struct Group {
    mode: String,
    label: String,
    connections: u64,
    role: String,
    runs: Vec<Value>,
}

impl Group {
    fn mean(&self, k: &str) -> f64 {
        let xs: Vec<f64> = self.runs.iter().filter_map(|r| r[k].as_f64()).collect();
        if xs.is_empty() {
            0.0
        } else {
            xs.iter().sum::<f64>() / xs.len() as f64
        }
    }

    fn range(&self, k: &str) -> (f64, f64) {
        let xs = self.runs.iter().filter_map(|r| r[k].as_f64());
        xs.fold((f64::INFINITY, 0.0f64), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        })
    }

    fn errors(&self) -> u64 {
        self.runs.iter().map(errors).sum()
    }
}

/// Prints the comparison tables of a results file (one JSON record a line).
pub(crate) fn print(path: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut groups: Vec<Group> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| format!("{path}:{}: {e}", n + 1))?;
        let mode = v["mode"].as_str().unwrap_or("").to_owned();
        let label = v["label"].as_str().unwrap_or("").to_owned();
        // Runs at different connection counts are different groups (the
        // concurrency sweep of issue 19).
        let connections = match mode.as_str() {
            "json" | "modern" => v["connections"].as_u64().unwrap_or(0),
            _ => 0,
        };
        match groups
            .iter_mut()
            .find(|g| g.mode == mode && g.label == label && g.connections == connections)
        {
            Some(g) => g.runs.push(v),
            None => groups.push(Group {
                mode,
                label,
                connections,
                role: v["role"].as_str().unwrap_or("peer").to_owned(),
                runs: vec![v],
            }),
        }
    }
    for mode in ["json", "modern"] {
        let mut conns: Vec<u64> = groups
            .iter()
            .filter(|g| g.mode == mode)
            .map(|g| g.connections)
            .collect();
        conns.sort_unstable();
        conns.dedup();
        for &n in &conns {
            calls_table(&groups, mode, n, conns.len() > 1);
        }
    }
    projection_table(&groups);
    let gs: Vec<&Group> = groups.iter().filter(|g| g.mode == "sse-stream").collect();
    if !gs.is_empty() {
        let r = &gs[0].runs[0];
        println!(
            "\n## sse-stream: {} streams, countdown of {} events {} ms apart (mean of {} rounds)\n",
            r["connections"],
            r["events_per_call"],
            r["interval_ms"],
            gs[0].runs.len()
        );
        println!(
            "| target | events/s | delivery p50 µs | delivery p99 µs | delivery max µs | lateness p99 µs | first event p50 µs | first event p99 µs | spread p99 µs | server µs/event | errors |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for g in &gs {
            println!(
                "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} | {} |",
                g.label,
                g.mean("events_per_s"),
                g.mean("delivery_p50_us"),
                g.mean("delivery_p99_us"),
                g.mean("delivery_max_us"),
                g.mean("lateness_p99_us"),
                g.mean("first_p50_us"),
                g.mean("first_p99_us"),
                g.mean("spread_p99_us"),
                g.mean("server_cpu_us_per_op"),
                g.errors()
            );
        }
    }
    let gs: Vec<&Group> = groups.iter().filter(|g| g.mode == "sessions").collect();
    if !gs.is_empty() {
        println!("\n## sessions: idle sessions held, server RSS\n");
        println!(
            "| target | sessions | RSS MiB | bytes/session (vs empty) | bytes/session (marginal) | opened/s | errors |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for g in &gs {
            for r in &g.runs {
                for p in r["points"].as_array().into_iter().flatten() {
                    println!(
                        "| {} | {} | {:.1} | {} | {} | {:.0} | {} |",
                        g.label,
                        p["sessions"],
                        f(p, "rss_bytes") / 1048576.0,
                        p["bytes_per_session"],
                        p.get("marginal_bytes_per_session").unwrap_or(&Value::Null),
                        f(p, "sessions_per_s"),
                        errors(r)
                    );
                }
            }
        }
    }
    Ok(())
}

/// The `json` / `modern` table of one connection count.
fn calls_table(groups: &[Group], mode: &str, conns: u64, sweep: bool) {
    let gs: Vec<&Group> = groups
        .iter()
        .filter(|g| g.mode == mode && g.connections == conns)
        .collect();
    if gs.is_empty() {
        return;
    }
    let echo = gs.iter().find(|g| g.role == "reference").map(|g| {
        (
            g.mean("calls_per_s"),
            g.mean("server_cpu_us_per_op"),
            g.mean("p99_us"),
        )
    });
    let fastest_peer = gs
        .iter()
        .filter(|g| g.role == "peer")
        .max_by(|a, b| a.mean("calls_per_s").total_cmp(&b.mean("calls_per_s")));
    let at = if sweep {
        format!(", {conns} connections")
    } else {
        String::new()
    };
    println!(
        "\n## {mode}: tools/call echo round trips{at} (mean of {} rounds)\n",
        gs[0].runs.len()
    );
    println!(
        "| target | calls/s | range | p50 µs | p99 µs | server µs/call | tester CPU | x hyper-echo | CPU x hyper-echo | p99 x hyper-echo | x fastest peer | errors |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for g in &gs {
        let c = g.mean("calls_per_s");
        let (lo, hi) = g.range("calls_per_s");
        let ratio = |x: f64, d: Option<f64>| match d {
            Some(d) if d > 0.0 => format!("{:.2}", x / d),
            _ => "-".into(),
        };
        println!(
            "| {} | {:.0} | {:.0}–{:.0} | {:.0} | {:.0} | {:.1} | {:.2} | {} | {} | {} | {} | {} |",
            g.label,
            c,
            lo,
            hi,
            g.mean("p50_us"),
            g.mean("p99_us"),
            g.mean("server_cpu_us_per_op"),
            g.mean("tester_cpu_util"),
            ratio(c, echo.map(|e| e.0)),
            ratio(g.mean("server_cpu_us_per_op"), echo.map(|e| e.1)),
            ratio(g.mean("p99_us"), echo.map(|e| e.2)),
            ratio(c, fastest_peer.map(|p| p.mean("calls_per_s"))),
            g.errors()
        );
    }
    if let Some(p) = fastest_peer {
        println!("\nfastest peer: {}", p.label);
    }
}

/// The serial fraction (runs with `--driver-metrics`) and the projected
/// calls/s of one driver on 4, 16 and 64 cores, beside the reference's
/// per-core figure scaled to the same cores.
fn projection_table(groups: &[Group]) {
    let gs: Vec<&Group> = groups
        .iter()
        .filter(|g| g.runs.iter().any(|r| r.get("driver_us_per_op").is_some()))
        .collect();
    if gs.is_empty() {
        return;
    }
    println!("\n## driver serial time and projection (Amdahl; bound = min(k / cpu, 1 / driver))\n");
    println!(
        "| target | mode | conns | server µs/call | driver µs/call | driver share | 4 cores Amdahl / bound | 16 cores | 64 cores | hyper-echo scaled 4 / 16 / 64 |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for g in gs {
        let echo = groups
            .iter()
            .find(|e| e.role == "reference" && e.mode == g.mode && e.connections == g.connections)
            .map(|e| e.mean("server_cpu_us_per_op"))
            .filter(|c| *c > 0.0);
        let scaled = match echo {
            Some(c) => format!("{:.0} / {:.0} / {:.0}", 4e6 / c, 16e6 / c, 64e6 / c),
            None => "-".into(),
        };
        let k = |n: u32| {
            format!(
                "{:.0} / {:.0}",
                g.mean(&format!("proj_amdahl_{n}")),
                g.mean(&format!("proj_bound_{n}"))
            )
        };
        println!(
            "| {} | {} | {} | {:.1} | {:.2} | {:.2} | {} | {} | {} | {} |",
            g.label,
            g.mode,
            g.connections,
            g.mean("server_cpu_us_per_op"),
            g.mean("driver_us_per_op"),
            g.mean("driver_share"),
            k(4),
            k(16),
            k(64),
            scaled
        );
    }
}
