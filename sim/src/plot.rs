//! Plots as SVG (plotters): reach over time, bandwidth over time, CDF of delivery latency.

use plotters::prelude::*;

use crate::output::{cdf, rows};
use crate::report::Summary;
use crate::sim::Simulation;

const SIZE: (u32, u32) = (800, 480);

/// Every plot of a run: `(file name, SVG)`.
pub(crate) fn all(sim: &Simulation, summary: &Summary) -> Vec<(String, String)> {
    let rows = rows(sim);
    let title = &summary.scenario.name;
    let reach: Vec<(f64, f64)> = rows
        .iter()
        .map(|(t, r, _)| (*t as f64 / 1000.0, *r))
        .collect();
    let sample_s = sim.world.cfg.sample_ms as f64 / 1000.0;
    let payload: Vec<(f64, f64)> = rows
        .iter()
        .map(|(t, _, b)| (*t as f64 / 1000.0, b.payload_bytes as f64 / sample_s / 1e6))
        .collect();
    let control: Vec<(f64, f64)> = rows
        .iter()
        .map(|(t, _, b)| (*t as f64 / 1000.0, b.control_bytes as f64 / sample_s / 1e6))
        .collect();
    let latency: Vec<(f64, f64)> = cdf(sim).into_iter().map(|(ms, f)| (ms as f64, f)).collect();
    vec![
        (
            "reach.svg".into(),
            chart(
                &format!("{title}: reach"),
                "virtual time (s)",
                "fraction of (agent, update) pairs",
                &[("reach", &reach)],
            ),
        ),
        (
            "bandwidth.svg".into(),
            chart(
                &format!("{title}: bandwidth, all nodes"),
                "virtual time (s)",
                "MB/s",
                &[("payload", &payload), ("control", &control)],
            ),
        ),
        (
            "latency_cdf.svg".into(),
            chart(
                &format!("{title}: delivery latency CDF"),
                "author to apply (ms)",
                "fraction of deliveries",
                &[("deliveries", &latency)],
            ),
        ),
    ]
}

/// A line chart of named series; an empty chart if there is no data.
fn chart(title: &str, x: &str, y: &str, series: &[(&str, &Vec<(f64, f64)>)]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let _ = draw(&root, title, x, y, series);
        let _ = root.present();
    }
    svg
}

fn draw(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    x: &str,
    y: &str,
    series: &[(&str, &Vec<(f64, f64)>)],
) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let points = series.iter().flat_map(|(_, s)| s.iter());
    let (mut x_max, mut y_max) = (1e-9f64, 1e-9f64);
    for &(a, b) in points {
        x_max = x_max.max(a);
        y_max = y_max.max(b);
    }
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..x_max * 1.02, 0f64..y_max * 1.05)?;
    chart.configure_mesh().x_desc(x).y_desc(y).draw()?;
    let colors = [BLUE, RED, GREEN, MAGENTA];
    for (i, (name, data)) in series.iter().enumerate() {
        let color = colors[i % colors.len()];
        chart
            .draw_series(LineSeries::new(data.iter().copied(), color.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
