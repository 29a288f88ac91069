//! The pure part of `bench latency`: percentiles, reading what the samplers print, and
//! the table.

use std::fmt::Write as _;

use crate::util::{Context, Result};
use crate::{bail, ensure};

/// Percentiles of one client on one route, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pct {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
}

/// Nearest-rank p50 and p99 of `samples` (as `hvbench` computes them: the value at
/// rank ceil(p/100 * n)); `None` if there are none.
pub fn percentiles(samples: &[f64]) -> Option<Pct> {
    let v = sorted(samples);
    let rank = |p| nearest_rank(&v, p);
    (!v.is_empty()).then(|| Pct { count: v.len(), p50: rank(50.0), p99: rank(99.0) })
}

fn sorted(samples: &[f64]) -> Vec<f64> {
    let mut v = samples.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

/// The value at rank ceil(p/100 * n) of the sorted, non-empty `v`.
fn nearest_rank(v: &[f64], p: f64) -> f64 {
    v[((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

/// One spawned sample: microseconds from the start of the process to the first byte
/// back, and to its exit; whether that exit was the device's reset (`--reset-ok`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spawned {
    pub first_us: f64,
    pub exit_us: f64,
    pub reset: bool,
}

/// The samples `spawn-latency` printed (`INDEX FIRST_NS EXIT_NS RESET` per line), by
/// command; each of the `commands` must have exactly `samples` of them.
pub fn parse_spawned(text: &str, commands: usize, samples: usize) -> Result<Vec<Vec<Spawned>>> {
    let mut out = vec![Vec::new(); commands];
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<u64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        let [index, first, exit, reset @ (0 | 1)] = fields[..] else { bail!("bad sample line {line:?}") };
        ensure!(line.split_whitespace().count() == 4, "bad sample line {line:?}");
        ensure!(first <= exit, "sample {line:?}: its answer came after its exit");
        let slot = out.get_mut(index as usize).with_context(|| format!("no command {index}: {line:?}"))?;
        slot.push(Spawned { first_us: first as f64 / 1e3, exit_us: exit as f64 / 1e3, reset: reset == 1 });
    }
    for (index, got) in out.iter().enumerate() {
        ensure!(got.len() == samples, "command {index}: {} samples, not {samples}", got.len());
    }
    Ok(out)
}

/// Nearest-rank p90, p95, p99 and the maximum of `samples`, as text
/// (`p90 / p95 / p99 / max`, rounded microseconds); `-` if there are none.
pub fn tail(samples: &[f64]) -> String {
    let v = sorted(samples);
    let rank = |p| nearest_rank(&v, p);
    if v.is_empty() {
        return "-".into();
    }
    format!("{:.0} / {:.0} / {:.0} / {:.0}", rank(90.0), rank(95.0), rank(99.0), v[v.len() - 1])
}

/// The raw samples of spawned clients on one route as tab-separated lines, in the order
/// they were taken (the clients take turns): `route client seq first_us exit_us reset`,
/// `seq` counting every client's samples, so neighbours in `seq` ran one after another.
pub fn raw_lines(route: &str, clients: &[&str], spawned: &[Vec<Spawned>]) -> String {
    let rounds = spawned.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = String::new();
    let mut seq = 0;
    for round in 0..rounds {
        for (index, samples) in spawned.iter().enumerate() {
            let Some(s) = samples.get(round) else { continue };
            let client = clients.get(index).copied().unwrap_or("?");
            let _ = writeln!(
                out,
                "{route}\t{client}\t{seq}\t{:.1}\t{:.1}\t{}",
                s.first_us,
                s.exit_us,
                u8::from(s.reset)
            );
            seq += 1;
        }
    }
    out
}

/// The header line of [`raw_lines`]' file.
pub const RAW_HEADER: &str = "route\tclient\tseq\tfirst_us\texit_us\treset\n";

/// The latency of an `hvbench --json` report: `count`, `p50_us`, `p99_us`.
pub fn parse_hvbench(json: &str) -> Result<Pct> {
    let latency = json.split("\"latency\":{").nth(1).with_context(|| format!("no latency in {json:?}"))?;
    let field = |name: &str| -> Result<f64> {
        let at = latency.find(&format!("\"{name}\":")).with_context(|| format!("no {name} in {json:?}"))?;
        let value = latency[at + name.len() + 3..].split([',', '}']).next().unwrap_or("");
        value.trim().parse().with_context(|| format!("bad {name} {value:?}"))
    };
    Ok(Pct { count: field("count")? as usize, p50: field("p50_us")?, p99: field("p99_us")? })
}

/// What one client gave on one route.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Measured: the percentiles to the first byte back, and for a spawned client the
    /// median to its exit and how many of its exits were the device's reset.
    Done { first: Pct, exit_p50: Option<f64>, resets: usize },
    /// Not measured, and why.
    NotApplicable(&'static str),
}

impl Cell {
    /// A spawned client's cell from its samples.
    pub fn spawned(samples: &[Spawned]) -> Result<Cell> {
        let first = samples.iter().map(|s| s.first_us).collect::<Vec<_>>();
        let exit = samples.iter().map(|s| s.exit_us).collect::<Vec<_>>();
        let first = percentiles(&first).context("no samples")?;
        let resets = samples.iter().filter(|s| s.reset).count();
        Ok(Cell::Done { first, exit_p50: percentiles(&exit).map(|p| p.p50), resets })
    }

    fn first(&self) -> Option<Pct> {
        match self {
            Cell::Done { first, .. } => Some(*first),
            Cell::NotApplicable(_) => None,
        }
    }
}

/// One line of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub route: &'static str,
    pub library: Cell,
    pub hvcat: Cell,
    pub socat: Cell,
}

/// The table: p50/p99 in microseconds of each client on each route, hvcat/socat at p50
/// and whether hvcat's p50 is at most socat's; then the medians to exit, and the
/// reasons for every n/a.
pub fn table(rows: &[Row]) -> String {
    let mut notes: Vec<&str> = Vec::new();
    let mut cell = |c: &Cell| match c {
        Cell::Done { first, .. } => format!("{:.0} / {:.0}", first.p50, first.p99),
        Cell::NotApplicable(why) => {
            if !notes.contains(why) {
                notes.push(why);
            }
            format!("n/a ({})", notes.iter().position(|n| n == why).unwrap_or(0) + 1)
        }
    };
    let mut out = format!(
        "{:<26} {:>17} {:>17} {:>17} {:>13}  {}\n",
        "route (us, p50 / p99)", "library", "hvcat", "socat", "hvcat/socat", "hvcat p50 <= socat"
    );
    for row in rows {
        let (library, hvcat, socat) = (cell(&row.library), cell(&row.hvcat), cell(&row.socat));
        let (ratio, verdict) = match (row.hvcat.first(), row.socat.first()) {
            (Some(h), Some(s)) => {
                (format!("{:.2}", h.p50 / s.p50), if h.p50 <= s.p50 { "yes" } else { "NO" }.to_string())
            }
            _ => ("-".into(), "-".into()),
        };
        let _ =
            writeln!(out, "{:<26} {library:>17} {hvcat:>17} {socat:>17} {ratio:>13}  {verdict}", row.route);
    }
    let exits: Vec<String> = rows
        .iter()
        .filter_map(|row| {
            let exit = |c: &Cell| match c {
                Cell::Done { exit_p50: Some(e), resets: 0, .. } => Some(format!("{e:.0}")),
                Cell::Done { exit_p50: Some(e), resets, first } => {
                    Some(format!("{e:.0} ({resets} of {} exits: ENOTCONN, the device's reset)", first.count))
                }
                _ => None,
            };
            let (h, s) = (exit(&row.hvcat), exit(&row.socat));
            (h.is_some() || s.is_some()).then(|| {
                format!(
                    "  {:<24} hvcat {}, socat {}",
                    row.route,
                    h.unwrap_or_else(|| "-".into()),
                    s.unwrap_or_else(|| "-".into())
                )
            })
        })
        .collect();
    if !exits.is_empty() {
        let _ = writeln!(out, "p50 from start to exit (us):\n{}", exits.join("\n"));
    }
    for (i, note) in notes.iter().enumerate() {
        let _ = writeln!(out, "n/a ({}): {note}", i + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_and_raw_lines() {
        let v: Vec<f64> = (1..=200).rev().map(f64::from).collect();
        assert_eq!(tail(&v), "180 / 190 / 198 / 200");
        assert_eq!(tail(&[]), "-");
        let s = |first_us, reset| Spawned { first_us, exit_us: first_us + 0.5, reset };
        let spawned = vec![vec![s(10.0, false), s(30.0, true)], vec![s(20.0, false), s(40.0, false)]];
        let text = raw_lines("loopback", &["hvcat", "socat"], &spawned);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "loopback\thvcat\t0\t10.0\t10.5\t0",
                "loopback\tsocat\t1\t20.0\t20.5\t0",
                "loopback\thvcat\t2\t30.0\t30.5\t1",
                "loopback\tsocat\t3\t40.0\t40.5\t0",
            ]
        );
        assert_eq!(RAW_HEADER.split('\t').count(), lines[0].split('\t').count());
        let one = raw_lines("host-to-guest", &["hvcat"], &spawned[..1]);
        assert_eq!(one.lines().nth(1), Some("host-to-guest\thvcat\t1\t30.0\t30.5\t1"));
    }

    #[test]
    fn nearest_rank_like_hvbench() {
        let v: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(percentiles(&v), Some(Pct { count: 200, p50: 100.0, p99: 198.0 }));
        let mut shuffled: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        shuffled.swap(3, 70);
        assert_eq!(percentiles(&shuffled), Some(Pct { count: 100, p50: 50.0, p99: 99.0 }));
        assert_eq!(percentiles(&[7.0]), Some(Pct { count: 1, p50: 7.0, p99: 7.0 }));
        assert_eq!(percentiles(&[3.0, 1.0]), Some(Pct { count: 2, p50: 1.0, p99: 3.0 }));
        assert_eq!(percentiles(&[]), None);
    }

    #[test]
    fn reads_the_sampler_output() {
        let text = "0 1500 2000 0\n1 2500 2600 0\n\n0 1000 1100 0\n1 3000 9000 1\n";
        let got = parse_spawned(text, 2, 2).unwrap();
        assert_eq!(got[0][0], Spawned { first_us: 1.5, exit_us: 2.0, reset: false });
        assert_eq!(got[1][1], Spawned { first_us: 3.0, exit_us: 9.0, reset: true });
        assert!(parse_spawned(text, 2, 3).unwrap_err().to_string().contains("2 samples, not 3"));
        assert!(parse_spawned(text, 1, 2).unwrap_err().to_string().contains("no command 1"));
        assert!(parse_spawned("0 10 20 0 1\n", 1, 1).is_err());
        assert!(parse_spawned("0 10 20\n", 1, 1).is_err());
        assert!(parse_spawned("0 10 20 2\n", 1, 1).is_err());
        assert!(parse_spawned("0 10 x 0\n", 1, 1).is_err());
        assert!(parse_spawned("0 -10 20 0\n", 1, 1).is_err());
        assert!(parse_spawned("0 30 20 0\n", 1, 1).unwrap_err().to_string().contains("after its exit"));
        assert!(parse_spawned("spawn-latency: hvcat: exited with 1\n", 1, 1).is_err());
    }

    #[test]
    fn reads_hvbench_json() {
        let json = "{\"uri\":\"unix:///s\",\"throughput\":[],\"latency\":{\"count\":200,\"min_us\":20.1,\"p50_us\":31.5,\"p90_us\":40.0,\"p99_us\":88.2,\"max_us\":100.0}}\n";
        assert_eq!(parse_hvbench(json).unwrap(), Pct { count: 200, p50: 31.5, p99: 88.2 });
        assert!(parse_hvbench("{\"latency\":null}").is_err());
        assert!(parse_hvbench("{\"latency\":{\"count\":2,\"p50_us\":x,\"p99_us\":1}}").is_err());
    }

    #[test]
    fn table_compares_hvcat_with_socat_and_explains_na() {
        let pct = |p50, p99| Pct { count: 10, p50, p99 };
        let rows = [
            Row {
                route: "guest loopback (CID 1)",
                library: Cell::Done { first: pct(800.0, 1500.0), exit_p50: None, resets: 0 },
                hvcat: Cell::Done { first: pct(4000.0, 6000.0), exit_p50: Some(4500.0), resets: 0 },
                socat: Cell::Done { first: pct(5000.0, 9000.0), exit_p50: Some(5600.0), resets: 3 },
            },
            Row {
                route: "host -> guest (hybrid)",
                library: Cell::Done { first: pct(600.0, 900.0), exit_p50: None, resets: 0 },
                hvcat: Cell::Done { first: pct(2000.0, 2500.0), exit_p50: Some(2100.0), resets: 0 },
                socat: Cell::NotApplicable("socat cannot do the handshake"),
            },
            Row {
                route: "host only (Unix socket)",
                library: Cell::Done { first: pct(30.0, 80.0), exit_p50: None, resets: 0 },
                hvcat: Cell::Done { first: pct(1200.0, 2000.0), exit_p50: Some(1300.0), resets: 0 },
                socat: Cell::Done { first: pct(1000.0, 1900.0), exit_p50: Some(1100.0), resets: 0 },
            },
        ];
        let text = table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("route") && lines[0].contains("hvcat/socat"), "{text}");
        assert!(lines[1].contains("800 / 1500") && lines[1].contains("4000 / 6000"), "{text}");
        assert!(lines[1].contains("5000 / 9000") && lines[1].ends_with("0.80  yes"), "{text}");
        assert!(lines[2].contains("n/a (1)") && lines[2].ends_with("-  -"), "{text}");
        assert!(lines[3].ends_with("1.20  NO"), "{text}");
        assert!(
            text.contains("guest loopback (CID 1)   hvcat 4500, socat 5600 (3 of 10 exits: ENOTCONN"),
            "{text}"
        );
        assert!(text.contains("host -> guest (hybrid)   hvcat 2100, socat -"), "{text}");
        assert!(text.ends_with("n/a (1): socat cannot do the handshake\n"), "{text}");
    }
}
