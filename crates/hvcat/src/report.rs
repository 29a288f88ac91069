//! Benchmark results as a table, as JSON, and as an SVG plot of throughput by write size.

use std::fmt::Write as _;

use crate::bench::{Direction, Latency, Sample};

/// Everything one `hvbench` run measured.
pub struct Report {
    /// The address measured.
    pub uri: String,
    /// Throughput runs.
    pub samples: Vec<Sample>,
    /// Connect latency, if measured.
    pub latency: Option<Latency>,
}

/// The latency figures by name, in microseconds.
fn percentiles(l: &Latency) -> [(&'static str, f64); 5] {
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    [("min", us(l.min)), ("p50", us(l.p50)), ("p90", us(l.p90)), ("p99", us(l.p99)), ("max", us(l.max))]
}

impl Report {
    /// A table for people.
    pub fn table(&self) -> String {
        let mut out = format!("hvbench {}\n", self.uri);
        if !self.samples.is_empty() {
            let _ = writeln!(out, "{:>10} {:>6} {:>10} {:>10}", "write", "dir", "MB/s", "seconds");
            for s in &self.samples {
                let _ = writeln!(
                    out,
                    "{:>10} {:>6} {:>10.1} {:>10.3}",
                    crate::human_bytes(s.write_size as u64),
                    s.direction.name(),
                    s.mb_per_s(),
                    s.elapsed.as_secs_f64()
                );
            }
        }
        if let Some(l) = &self.latency {
            let figures: Vec<String> =
                percentiles(l).iter().map(|(name, v)| format!("{name} {v:.0} us")).collect();
            let _ = writeln!(
                out,
                "connect+handshake+first byte over {} connections: {}",
                l.count,
                figures.join(", ")
            );
        }
        out
    }

    /// The same as JSON.
    pub fn json(&self) -> String {
        let samples: Vec<String> = self
            .samples
            .iter()
            .map(|s| {
                format!(
                    "{{\"direction\":\"{}\",\"write_size\":{},\"bytes\":{},\"seconds\":{:.6},\"mb_per_s\":{:.3}}}",
                    s.direction.name(),
                    s.write_size,
                    s.bytes,
                    s.elapsed.as_secs_f64(),
                    s.mb_per_s()
                )
            })
            .collect();
        let latency = match &self.latency {
            Some(l) => {
                let fields: Vec<String> =
                    percentiles(l).iter().map(|(name, v)| format!("\"{name}_us\":{v:.1}")).collect();
                format!("{{\"count\":{},{}}}", l.count, fields.join(","))
            }
            None => "null".into(),
        };
        format!(
            "{{\"uri\":{},\"throughput\":[{}],\"latency\":{latency}}}\n",
            json_string(&self.uri),
            samples.join(",")
        )
    }

    /// An SVG line plot of MB/s against write size (log scale), one line per direction.
    pub fn svg(&self) -> String {
        let (w, h, left, bottom, top, right) = (640.0, 400.0, 70.0, 50.0, 40.0, 45.0);
        let sizes: Vec<f64> = self.samples.iter().map(|s| (s.write_size as f64).log2()).collect();
        let (xmin, xmax) = bounds(&sizes);
        let step = nice_step(self.samples.iter().map(Sample::mb_per_s).fold(1.0, f64::max) / 4.0);
        let ymax = step * (self.samples.iter().map(Sample::mb_per_s).fold(1.0, f64::max) / step).ceil();
        let x =
            |size: usize| left + ((size as f64).log2() - xmin) / (xmax - xmin).max(1.0) * (w - left - right);
        let y = |rate: f64| h - bottom - rate / ymax * (h - bottom - top);
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">hvbench {}: throughput by write size</text>\n",
            w / 2.0,
            xml_escape(&self.uri)
        );
        let _ = writeln!(
            out,
            "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>",
            h - bottom,
            w - right,
            h - bottom
        );
        let _ = writeln!(
            out,
            "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"black\"/>",
            h - bottom
        );
        for i in 0..=(ymax / step).round() as usize {
            let rate = step * i as f64;
            let _ = writeln!(
                out,
                "<line x1=\"{left}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"#ddd\"/>",
                y(rate),
                w - right
            );
            let _ = writeln!(
                out,
                "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{rate:.0}</text>",
                left - 6.0,
                y(rate) + 4.0
            );
        }
        let mut ticks: Vec<usize> = self.samples.iter().map(|s| s.write_size).collect();
        ticks.sort_unstable();
        ticks.dedup();
        for size in ticks {
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                x(size),
                h - bottom + 18.0,
                crate::human_bytes(size as u64)
            );
        }
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">write size</text>",
            w / 2.0,
            h - 8.0
        );
        let _ = writeln!(
            out,
            "<text x=\"16\" y=\"{}\" transform=\"rotate(-90 16 {})\" text-anchor=\"middle\">MB/s</text>",
            h / 2.0,
            h / 2.0
        );
        for (direction, color, ly) in
            [(Direction::Send, "#1f77b4", top), (Direction::Recv, "#d62728", top + 16.0)]
        {
            let points: Vec<String> = self
                .samples
                .iter()
                .filter(|s| s.direction == direction)
                .map(|s| format!("{:.1},{:.1}", x(s.write_size), y(s.mb_per_s())))
                .collect();
            if points.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
                points.join(" ")
            );
            for p in &points {
                let (px, py) = p.split_once(',').unwrap_or_default();
                let _ = writeln!(out, "<circle cx=\"{px}\" cy=\"{py}\" r=\"3\" fill=\"{color}\"/>");
            }
            let _ = writeln!(
                out,
                "<text x=\"{}\" y=\"{}\" fill=\"{color}\">{}</text>",
                w - right - 60.0,
                ly + 12.0,
                direction.name()
            );
        }
        out.push_str("</svg>\n");
        out
    }
}

/// A round axis step (1, 2 or 5 times a power of ten) near `raw`.
fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.max(1e-9).log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude)
}

fn bounds(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if min.is_finite() {
        (min, max)
    } else {
        (0.0, 1.0)
    }
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn report() -> Report {
        let sample = |direction, write_size, ms| Sample {
            direction,
            write_size,
            bytes: 1_000_000,
            elapsed: Duration::from_millis(ms),
        };
        Report {
            uri: "hybrid://:1/a\"b<c".into(),
            samples: vec![
                sample(Direction::Send, 1024, 100),
                sample(Direction::Send, 65536, 10),
                sample(Direction::Recv, 1024, 50),
            ],
            latency: Latency::of(vec![Duration::from_micros(40), Duration::from_micros(60)]),
        }
    }

    #[test]
    fn axis_steps_are_round() {
        assert_eq!(nice_step(2331.0), 5000.0);
        assert_eq!(nice_step(180.0), 200.0);
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(1000.0), 1000.0);
    }

    #[test]
    fn json_is_well_formed_and_escaped() {
        let json = report().json();
        assert!(json.starts_with(
            "{\"uri\":\"hybrid://:1/a\\\"b<c\",\"throughput\":[{\"direction\":\"send\",\"write_size\":1024,"
        ));
        assert!(json.contains("\"mb_per_s\":100.000}"), "{json}");
        assert!(json.contains("\"latency\":{\"count\":2,\"min_us\":40.0,\"p50_us\":40.0"), "{json}");
        assert_eq!(json.matches('{').count(), json.matches('}').count());
    }

    #[test]
    fn table_and_svg_show_every_sample() {
        let r = report();
        let table = r.table();
        assert!(table.contains("64.0 KiB   send      100.0"), "{table}");
        assert!(table.contains("p99 60 us"), "{table}");
        let svg = r.svg();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("a&quot;b&lt;c"));
    }
}
