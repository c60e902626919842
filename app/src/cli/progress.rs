//! Showing a run: progress bars on a terminal, plain lines otherwise, and JSON
//! lines on standard output when asked.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use gspeech_sdk::{LogLevel, Reporter};

use crate::exec::{Event, RunReport, RunStatus};

/// Prints events as they come, from any thread.
pub struct Printer {
    json: bool,
    bars: Option<(MultiProgress, Mutex<HashMap<String, ProgressBar>>)>,
}

impl Printer {
    /// A printer; `json` sends JSON lines to standard output (human text still
    /// goes to standard error).
    pub fn new(json: bool) -> Printer {
        let bars = std::io::stderr().is_terminal().then(|| {
            (
                MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                Mutex::new(HashMap::new()),
            )
        });
        Printer { json, bars }
    }

    /// Shows one event.
    pub fn event(&self, event: &Event) {
        if self.json {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", event.to_json_line());
            let _ = out.flush();
        }
        match &self.bars {
            Some((multi, bars)) => self.draw(multi, bars, event),
            None if !self.json => {
                if let Some(line) = describe(event) {
                    eprintln!("{line}");
                }
            }
            None => {}
        }
    }

    fn draw(&self, multi: &MultiProgress, bars: &Mutex<HashMap<String, ProgressBar>>, event: &Event) {
        let mut bars = bars.lock().unwrap();
        match event {
            Event::Started { node, .. } => {
                let bar = multi.add(ProgressBar::new(1000));
                bar.set_style(
                    ProgressStyle::with_template("{prefix:>16} [{bar:30}] {percent:>3}% {msg}")
                        .expect("valid template")
                        .progress_chars("=> "),
                );
                bar.set_prefix(node.clone());
                bar.enable_steady_tick(Duration::from_millis(200));
                bars.insert(node.clone(), bar);
            }
            Event::Progress {
                node,
                fraction,
                message,
            } => {
                if let Some(bar) = bars.get(node) {
                    bar.set_position((fraction * 1000.0) as u64);
                    bar.set_message(message.clone());
                }
            }
            Event::Finished { node, .. } | Event::Error { node, .. } | Event::Cancelled { node } => {
                if let Some(bar) = bars.remove(node) {
                    bar.finish_and_clear();
                    multi.remove(&bar);
                }
                if let Some(line) = describe(event) {
                    let _ = multi.println(line);
                }
            }
            _ => {
                if let Some(line) = describe(event) {
                    let _ = multi.println(line);
                }
            }
        }
    }

    /// Prints the run's summary on standard error.
    pub fn finish(&self, report: &RunReport) {
        if let Some((multi, _)) = &self.bars {
            let _ = multi.clear();
        }
        for (node, message) in &report.failed {
            eprintln!("failed: node `{node}`: {message}");
        }
        let verdict = match report.status {
            RunStatus::Ok => "done",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        };
        eprintln!(
            "{verdict}: {} ran, {} cached, {} failed, {} skipped in {:.2}s",
            report.executed.len(),
            report.cached.len(),
            report.failed.len(),
            report.skipped.len(),
            report.seconds
        );
    }
}

/// A human line for an event, if it deserves one.
fn describe(event: &Event) -> Option<String> {
    Some(match event {
        Event::Started { node, type_id } => format!("[{node}] {type_id} started"),
        Event::Cached { node, source } => format!(
            "[{node}] cached ({})",
            if *source == crate::exec::CacheSource::Disk {
                "disk"
            } else {
                "memory"
            }
        ),
        Event::Bypassed { node } => format!("[{node}] bypassed"),
        Event::Log { node, level, message } => match level {
            gspeech_sdk::LogLevel::Warn => format!("[{node}] warning: {message}"),
            _ => format!("[{node}] {message}"),
        },
        Event::Finished { node, seconds } => format!("[{node}] done in {seconds:.3}s"),
        Event::Error { node, message } => format!("[{node}] error: {message}"),
        Event::Skipped { node, because } => format!("[{node}] skipped: `{because}` failed"),
        Event::Cancelled { node } => format!("[{node}] cancelled"),
        Event::Progress { .. } | Event::RunStarted { .. } | Event::RunFinished { .. } => return None,
    })
}

/// A command's progress on one line of a terminal's standard error, after
/// its label (nothing when standard error is not a terminal), and notes on
/// lines of their own.
pub struct TerminalReporter {
    label: &'static str,
    terminal: bool,
}

impl TerminalReporter {
    /// A reporter whose progress line starts with `label`.
    pub fn new(label: &'static str) -> TerminalReporter {
        TerminalReporter {
            label,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// Clears the progress line.
    pub fn clear(&self) {
        if self.terminal {
            eprint!("\r\x1b[2K");
        }
    }
}

impl Reporter for TerminalReporter {
    fn progress(&self, fraction: f32, message: &str) {
        if self.terminal {
            eprint!("\r\x1b[2K{} {:>3.0}% {message}", self.label, fraction * 100.0);
            let _ = std::io::stderr().flush();
        }
    }

    fn log(&self, _level: LogLevel, message: &str) {
        self.clear();
        eprintln!("{message}");
    }
}
