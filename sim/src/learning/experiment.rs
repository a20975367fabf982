//! A learning experiment: every variant of a scenario over `learning.runs` seeds, aggregated
//! into tables and plots (`knack-sim learn`).

use plotters::prelude::*;
use serde::Serialize;

use super::{LearningReport, Point, run};
use crate::error::SimError;
use crate::output::Outputs;
use crate::scenario::{Scenario, parse_value, split_override};

/// The aggregate of one variant over its runs.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Variant name.
    pub variant: String,
    /// Runs (seeds).
    pub runs: u32,
    /// Mean over runs of the final mean cumulative regret per honest agent.
    pub regret: f64,
    /// Standard deviation of that over runs.
    pub regret_sd: f64,
    /// Mean regret per honest task.
    pub regret_per_task: f64,
    /// Share of honest tasks that used the best procedure.
    pub best_pick_share: f64,
    /// Share of (agent, type) greedy picks that are the best at the end.
    pub final_best_share: f64,
    /// (run, type) pairs where 90 % of agents came to pick the best.
    pub best_reached: u32,
    /// (run, type) pairs in all.
    pub best_pairs: u32,
    /// Median over (run, type) pairs of the time to 90 % best picks, "never" counted as
    /// infinite (`None` if the median is never), in seconds.
    pub time_to_best_median_s: Option<f64>,
    /// Mean over runs of procedures ever crystallized.
    pub crystallized: f64,
    /// Mean over runs of false crystallizations (true rate below the threshold).
    pub false_crystallized: f64,
    /// False / all crystallizations, pooled over runs.
    pub false_share: Option<f64>,
    /// Mean over runs of crystallizations of procedures that are not the best of their type.
    pub not_best_crystallized: f64,
    /// Runs with a correct crystallization.
    pub correct_runs: u32,
    /// Mean over those runs of the time of the first correct crystallization, in seconds.
    pub first_correct_s: Option<f64>,
    /// Mean payload kilobytes sent per node (shared memory).
    pub payload_kb_per_node: f64,
    /// Runs whose replicas all converged to the reference digest (shared memory).
    pub converged_runs: Option<u32>,
}

/// One variant's results.
#[derive(Clone, Debug, Serialize)]
pub struct VariantResult {
    /// Name.
    pub name: String,
    /// Its overrides of the base scenario.
    pub set: Vec<String>,
    /// The aggregate.
    pub row: Row,
    /// Per-run reports (series and catalogue omitted from the JSON).
    #[serde(serialize_with = "brief")]
    pub reports: Vec<LearningReport>,
    /// Measurements averaged over runs, point by point.
    #[serde(skip)]
    pub series: Vec<Point>,
}

/// Every variant's results.
#[derive(Clone, Debug, Serialize)]
pub struct Experiment {
    /// The base scenario's name.
    pub name: String,
    /// Seeds used: `seed..seed + runs`.
    pub seed: u64,
    /// Results in the order of the variants.
    pub variants: Vec<VariantResult>,
}

fn brief<S: serde::Serializer>(reports: &[LearningReport], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(reports.len()))?;
    for r in reports {
        let mut r = r.clone();
        r.series.clear();
        r.candidates.clear();
        seq.serialize_element(&r)?;
    }
    seq.end()
}

/// The scenarios of `base`'s variants (the base itself if it lists none), by name.
pub fn variants(base: &Scenario) -> Result<Vec<(String, Vec<String>, Scenario)>, SimError> {
    let l = base.learning.as_ref().ok_or(SimError::Parameter {
        field: "learning",
        reason: "the scenario has no [learning] table".into(),
    })?;
    let mut stripped = base.clone();
    if let Some(sl) = &mut stripped.learning {
        sl.variants.clear();
    }
    if l.variants.is_empty() {
        return Ok(vec![(base.name.clone(), Vec::new(), stripped)]);
    }
    l.variants
        .iter()
        .map(|v| {
            let mut s = stripped.clone();
            for o in &v.set {
                let (key, value) = split_override(o)?;
                s = s.with(key, parse_value(value))?;
            }
            s.name = format!("{} {}", base.name, v.name);
            Ok((v.name.clone(), v.set.clone(), s))
        })
        .collect()
}

/// Runs every variant of `base` over its `learning.runs` seeds; `progress` is told each
/// finished run (variant name, seed).
pub fn experiment(
    base: &Scenario,
    mut progress: impl FnMut(&str, u64),
) -> Result<Experiment, SimError> {
    let runs = base.learning.as_ref().map_or(1, |l| l.runs);
    let mut out = Vec::new();
    for (name, set, scenario) in variants(base)? {
        let mut reports = Vec::new();
        for r in 0..runs {
            let mut s = scenario.clone();
            s.seed = base.seed + u64::from(r);
            reports.push(run(&s)?);
            progress(&name, s.seed);
        }
        let row = aggregate(&name, &reports);
        let series = mean_series(&reports);
        out.push(VariantResult {
            name,
            set,
            row,
            reports,
            series,
        });
    }
    Ok(Experiment {
        name: base.name.clone(),
        seed: base.seed,
        variants: out,
    })
}

fn mean(xs: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = xs.collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn aggregate(name: &str, reports: &[LearningReport]) -> Row {
    let n = reports.len().max(1) as f64;
    let regret = mean(reports.iter().map(|r| r.regret)).unwrap_or(0.0);
    let sd = (reports
        .iter()
        .map(|r| (r.regret - regret).powi(2))
        .sum::<f64>()
        / (n - 1.0).max(1.0))
    .sqrt();
    let mut times: Vec<f64> = reports
        .iter()
        .flat_map(|r| r.time_to_best_ms.iter())
        .map(|t| t.map_or(f64::INFINITY, |ms| ms as f64 / 1000.0))
        .collect();
    times.sort_by(f64::total_cmp);
    let median = times
        .get(times.len() / 2)
        .copied()
        .filter(|t| t.is_finite());
    let ever: u32 = reports.iter().map(|r| r.ever_crystallized).sum();
    let false_: u32 = reports.iter().map(|r| r.ever_false_crystallized).sum();
    let correct: Vec<f64> = reports
        .iter()
        .filter_map(|r| r.first_correct_crystallization_ms)
        .map(|ms| ms as f64 / 1000.0)
        .collect();
    let shared = reports.iter().any(|r| r.converged.is_some());
    Row {
        variant: name.to_owned(),
        runs: reports.len() as u32,
        regret,
        regret_sd: sd,
        regret_per_task: mean(reports.iter().map(|r| r.regret_per_task)).unwrap_or(0.0),
        best_pick_share: mean(reports.iter().map(|r| r.best_pick_share)).unwrap_or(0.0),
        final_best_share: mean(reports.iter().map(|r| r.final_best_share)).unwrap_or(0.0),
        best_reached: times.iter().filter(|t| t.is_finite()).count() as u32,
        best_pairs: times.len() as u32,
        time_to_best_median_s: median,
        crystallized: f64::from(ever) / n,
        false_crystallized: f64::from(false_) / n,
        false_share: (ever > 0).then(|| f64::from(false_) / f64::from(ever)),
        not_best_crystallized: f64::from(
            reports
                .iter()
                .map(|r| r.ever_not_best_crystallized)
                .sum::<u32>(),
        ) / n,
        correct_runs: correct.len() as u32,
        first_correct_s: mean(correct.into_iter()),
        payload_kb_per_node: mean(reports.iter().map(|r| r.payload_bytes_per_node / 1024.0))
            .unwrap_or(0.0),
        converged_runs: shared
            .then(|| reports.iter().filter(|r| r.converged == Some(true)).count() as u32),
    }
}

fn mean_series(reports: &[LearningReport]) -> Vec<Point> {
    let len = reports.iter().map(|r| r.series.len()).min().unwrap_or(0);
    let n = reports.len().max(1) as f64;
    (0..len)
        .map(|i| {
            let at =
                |f: fn(&Point) -> f64| reports.iter().map(|r| f(&r.series[i])).sum::<f64>() / n;
            Point {
                time_ms: reports[0].series[i].time_ms,
                regret: at(|p| p.regret),
                best_share: at(|p| p.best_share),
                crystallized: (at(|p| f64::from(p.crystallized))).round() as u32,
                false_crystallized: (at(|p| f64::from(p.false_crystallized))).round() as u32,
            }
        })
        .collect()
}

fn err(path: &str, e: impl std::fmt::Display) -> SimError {
    SimError::Output {
        path: path.into(),
        reason: e.to_string(),
    }
}

impl Experiment {
    /// The files: `summary.json`, `learning.csv` (one row per variant), `series.csv`
    /// (measurements averaged over runs), `catalogue.csv` (the first seed's task world),
    /// `regret.svg`, `best_share.svg`, `false_crystallizations.svg`. Byte-identical for the
    /// same scenario, seed and build.
    pub fn outputs(&self) -> Result<Outputs, SimError> {
        let mut files = Vec::new();
        let json = serde_json::to_vec_pretty(self).map_err(|e| err("summary.json", e))?;
        files.push(("summary.json".to_owned(), json));
        let mut table = csv::Writer::from_writer(Vec::new());
        for v in &self.variants {
            table
                .serialize(&v.row)
                .map_err(|e| err("learning.csv", e))?;
        }
        files.push((
            "learning.csv".to_owned(),
            table.into_inner().map_err(|e| err("learning.csv", e))?,
        ));
        let mut series =
            String::from("variant,time_ms,regret,best_share,crystallized,false_crystallized\n");
        for v in &self.variants {
            for p in &v.series {
                series.push_str(&format!(
                    "{},{},{:.4},{:.4},{},{}\n",
                    v.name, p.time_ms, p.regret, p.best_share, p.crystallized, p.false_crystallized
                ));
            }
        }
        files.push(("series.csv".to_owned(), series.into_bytes()));
        let mut catalogue = String::from("candidate,task_type,family,p,best,worst\n");
        if let Some(r) = self.variants.first().and_then(|v| v.reports.first()) {
            for (i, c) in r.candidates.iter().enumerate() {
                let same: Vec<&super::Candidate> = r
                    .candidates
                    .iter()
                    .filter(|d| d.task_type == c.task_type)
                    .collect();
                let best = same.iter().all(|d| d.p <= c.p);
                let worst = same.iter().all(|d| d.p >= c.p);
                catalogue.push_str(&format!(
                    "{i},{},{},{:.4},{best},{worst}\n",
                    c.task_type, c.family, c.p
                ));
            }
        }
        files.push(("catalogue.csv".to_owned(), catalogue.into_bytes()));
        let line = |f: fn(&Point) -> f64| -> Vec<(String, Vec<(f64, f64)>)> {
            self.variants
                .iter()
                .map(|v| {
                    (
                        v.name.clone(),
                        v.series
                            .iter()
                            .map(|p| (p.time_ms as f64 / 1000.0, f(p)))
                            .collect(),
                    )
                })
                .collect()
        };
        files.push((
            "regret.svg".to_owned(),
            chart(
                &format!("{}: cumulative regret per agent", self.name),
                "virtual time (s)",
                "mean cumulative regret per honest agent",
                &line(|p| p.regret),
            )
            .into_bytes(),
        ));
        files.push((
            "best_share.svg".to_owned(),
            chart(
                &format!("{}: agents whose greedy pick is the best", self.name),
                "virtual time (s)",
                "share of (agent, task type) pairs",
                &line(|p| p.best_share),
            )
            .into_bytes(),
        ));
        files.push((
            "false_crystallizations.svg".to_owned(),
            chart(
                &format!("{}: false crystallizations", self.name),
                "virtual time (s)",
                "crystallized procedures with true rate below the threshold",
                &line(|p| f64::from(p.false_crystallized)),
            )
            .into_bytes(),
        ));
        Ok(Outputs { files })
    }
}

const SIZE: (u32, u32) = (900, 540);

/// A line chart of named series.
fn chart(title: &str, x: &str, y: &str, series: &[(String, Vec<(f64, f64)>)]) -> String {
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
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let (mut x_max, mut y_max) = (1e-9f64, 1e-9f64);
    for &(a, b) in series.iter().flat_map(|(_, s)| s.iter()) {
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
    for (i, (name, data)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(data.iter().copied(), color.stroke_width(2)))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
