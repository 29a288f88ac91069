//! The scaling plot: MB/s against concurrent connections (log scale), one line per
//! path, as SVG text.

use std::fmt::Write as _;

/// One line of the plot: a name and its (connections, MB/s) points.
pub struct Series<'a> {
    pub name: &'a str,
    pub points: Vec<(usize, f64)>,
}

const COLORS: [&str; 4] = ["#2ca02c", "#1f77b4", "#d62728", "#ff7f0e"];

/// An SVG line plot titled `title`.
pub fn plot(title: &str, series: &[Series<'_>]) -> String {
    let (w, h, left, bottom, top, right) = (640.0, 400.0, 70.0, 50.0, 40.0, 110.0);
    let all = || series.iter().flat_map(|s| s.points.iter());
    let (lo, hi) = all().fold((f64::MAX, f64::MIN), |(lo, hi), (n, _)| {
        let n = (*n as f64).max(1.0).log2();
        (lo.min(n), hi.max(n))
    });
    let (lo, hi) = if lo > hi { (0.0, 1.0) } else { (lo, hi.max(lo + 1.0)) };
    let peak = all().map(|p| p.1).fold(1.0, f64::max);
    let step = nice_step(peak / 4.0);
    let ymax = step * (peak / step).ceil();
    let x = |n: usize| left + ((n as f64).max(1.0).log2() - lo) / (hi - lo) * (w - left - right);
    let y = |rate: f64| h - bottom - rate / ymax * (h - bottom - top);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n",
        (w - right + left) / 2.0,
        escape(title)
    );
    let axis = |out: &mut String, x1: f64, y1: f64, x2: f64, y2: f64, color: &str| {
        let _ = writeln!(
            out,
            "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"{color}\"/>"
        );
    };
    for i in 0..=(ymax / step).round() as usize {
        let rate = step * i as f64;
        axis(&mut out, left, y(rate), w - right, y(rate), "#ddd");
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{rate:.0}</text>",
            left - 6.0,
            y(rate) + 4.0
        );
    }
    axis(&mut out, left, h - bottom, w - right, h - bottom, "black");
    axis(&mut out, left, top, left, h - bottom, "black");
    let mut ticks: Vec<usize> = all().map(|p| p.0).collect();
    ticks.sort_unstable();
    ticks.dedup();
    for n in ticks {
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{n}</text>",
            x(n),
            h - bottom + 18.0
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">concurrent connections (log scale)</text>",
        (w - right + left) / 2.0,
        h - 10.0
    );
    let _ = writeln!(
        out,
        "<text x=\"16\" y=\"{0}\" transform=\"rotate(-90 16 {0})\" text-anchor=\"middle\">MB/s</text>",
        h / 2.0
    );
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<(f64, f64)> = s.points.iter().map(|&(n, rate)| (x(n), y(rate))).collect();
        let line: Vec<String> = points.iter().map(|(px, py)| format!("{px:.1},{py:.1}")).collect();
        let _ = writeln!(
            out,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            line.join(" ")
        );
        for (px, py) in points {
            let _ = writeln!(out, "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"3\" fill=\"{color}\"/>");
        }
        let ly = top + 16.0 * i as f64;
        axis(&mut out, w - right + 12.0, ly + 8.0, w - right + 30.0, ly + 8.0, color);
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" fill=\"{color}\">{}</text>",
            w - right + 36.0,
            ly + 12.0,
            escape(s.name)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// A round axis step (1, 2 or 5 times a power of ten) at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.max(1e-9).log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_point_is_drawn_on_a_log_axis() {
        let series = [
            Series { name: "direct", points: vec![(1, 100.0), (8, 400.0), (512, 800.0)] },
            Series { name: "a<b", points: vec![(1, 50.0), (8, 200.0), (512, 0.0)] },
        ];
        let svg = plot("t", &series);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 6);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("a&lt;b"));
        // 1, 8 and 512 at 0, 3/9 and all of the axis's width (70 to 530).
        for x in ["cx=\"70.0\"", "cx=\"223.3\"", "cx=\"530.0\""] {
            assert_eq!(svg.matches(x).count(), 2, "{x}");
        }
        // 800 MB/s at the top of a 0..800 axis; 0 at the bottom.
        assert!(svg.contains("cx=\"530.0\" cy=\"40.0\"") && svg.contains("cx=\"530.0\" cy=\"350.0\""));
    }
}
