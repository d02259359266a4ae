//! The report's plots, as SVG drawn by plotters (no font files needed: text is left to the
//! viewer's sans-serif).

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::report::Report;
use super::stats::cdf;

const BLUE: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(255, 127, 14);
const GREEN: RGBColor = RGBColor(44, 160, 44);
const GREY: RGBColor = RGBColor(127, 127, 127);

/// Grouped bars: one group per name, one bar per series.
struct Bars<'a> {
    title: &'a str,
    y_label: &'a str,
    names: Vec<String>,
    /// (label, colour, one value per name)
    series: Vec<(&'a str, RGBColor, Vec<f64>)>,
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("cannot draw a plot: {e}")
}

/// An SVG plot, 900 × 480 on white, as `draw` draws it.
fn svg(draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<()>) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

fn bars(spec: &Bars) -> Result<String> {
    svg(|root| draw_bars(root, spec))
}

fn draw_bars(root: &DrawingArea<SVGBackend, Shift>, spec: &Bars) -> Result<()> {
    let values = spec.series.iter().flat_map(|(_, _, v)| v.iter().copied());
    let top = values.fold(0.0f64, f64::max).max(1e-9) * 1.15;
    let n = spec.names.len();
    let x = -0.5f64..n as f64 - 0.5;
    let mut chart = ChartBuilder::on(root)
        .caption(spec.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x, 0.0..top)
        .map_err(err)?;
    // Names under each group, placed by hand: the axis's own labels fall on round
    // numbers, not on the groups.
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&|_| String::new())
        .y_desc(spec.y_label)
        .draw()
        .map_err(err)?;
    let style =
        TextStyle::from(("sans-serif", 14).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    for (i, name) in spec.names.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(i as f64, 0.0));
        root.draw(&Text::new(name.clone(), (x, y + 8), style.clone()))
            .map_err(err)?;
    }
    let groups = spec.series.len() as f64;
    let width = 0.8 / groups;
    for (s, (label, colour, values)) in spec.series.iter().enumerate() {
        let colour = *colour;
        chart
            .draw_series(values.iter().enumerate().map(|(i, v)| {
                let left = i as f64 - 0.4 + s as f64 * width;
                Rectangle::new([(left, 0.0), (left + width * 0.9, *v)], colour.filled())
            }))
            .map_err(err)?
            .label(*label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(err)?;
    Ok(())
}

/// Cold start: median time to the first Runtime API request and to the first response.
pub fn cold_start(report: &Report) -> Result<String> {
    let functions = &report.cold_start.functions;
    bars(&Bars {
        title: "Cold start: median from process spawn (ms)",
        y_label: "milliseconds",
        names: functions.iter().map(|f| f.binary.clone()).collect(),
        series: vec![
            (
                "to first Runtime API request (init)",
                BLUE,
                functions.iter().map(|f| f.first_request_ms.p50).collect(),
            ),
            (
                "to first response",
                ORANGE,
                functions.iter().map(|f| f.first_response_ms.p50).collect(),
            ),
        ],
    })
}

/// Warm latency: the function's billed duration next to the same requests made directly.
pub fn warm_latency(report: &Report) -> Result<String> {
    let warm = &report.warm;
    bars(&Bars {
        title: "Warm latency: function duration vs the same AWS requests made directly (ms)",
        y_label: "milliseconds",
        names: warm.iter().map(|w| w.binary.clone()).collect(),
        series: vec![
            (
                "function p50",
                BLUE,
                warm.iter().map(|w| w.duration_ms.p50).collect(),
            ),
            (
                "direct p50",
                GREY,
                warm.iter().map(|w| w.direct_ms.p50).collect(),
            ),
            (
                "function p99",
                ORANGE,
                warm.iter().map(|w| w.duration_ms.p99).collect(),
            ),
            (
                "direct p99",
                GREEN,
                warm.iter().map(|w| w.direct_ms.p99).collect(),
            ),
        ],
    })
}

/// End to end: the distribution of POST-to-confirmed and POST-to-terminal latencies.
pub fn throughput(confirmed: &[f64], terminal: &[f64]) -> Result<String> {
    svg(|root| {
        let top = terminal
            .iter()
            .chain(confirmed)
            .copied()
            .fold(0.0f64, f64::max)
            .max(1.0)
            * 1.05;
        let mut chart = ChartBuilder::on(root)
            .caption(
                "End to end on the local cloud: share of orders done within (ms)",
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..top, 0.0..1.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("milliseconds since POST /orders")
            .y_desc("share of orders")
            .draw()
            .map_err(err)?;
        for (label, colour, samples) in [
            ("order.confirmed seen", BLUE, confirmed),
            ("terminal (paid / rejected) seen", ORANGE, terminal),
        ] {
            chart
                .draw_series(LineSeries::new(cdf(samples, 400), colour.stroke_width(2)))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.9))
            .draw()
            .map_err(err)?;
        Ok(())
    })
}
