//! What a run reports, as it happens: the CLI draws bars or prints JSON lines
//! from these, the editor colours its nodes.

use gspeech_sdk::LogLevel;
use serde::Serialize;

/// Where a cached output came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheSource {
    /// This process's in-memory cache.
    Memory,
    /// The on-disk cache.
    Disk,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every needed node produced its outputs.
    Ok,
    /// At least one node failed (independent branches still ran).
    Failed,
    /// The run was cancelled.
    Cancelled,
}

/// One thing that happened during a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run begins with this many nodes to produce.
    RunStarted {
        /// Nodes needed for the requested outputs.
        nodes: usize,
    },
    /// A node started computing.
    Started {
        /// Node id.
        node: String,
        /// Its type.
        type_id: String,
    },
    /// A node's outputs came from a cache.
    Cached {
        /// Node id.
        node: String,
        /// Which cache.
        source: CacheSource,
    },
    /// A bypassed node passed its inputs through.
    Bypassed {
        /// Node id.
        node: String,
    },
    /// Progress of a running node.
    Progress {
        /// Node id.
        node: String,
        /// Fraction done in [0, 1].
        fraction: f32,
        /// What it is doing.
        message: String,
    },
    /// A log line from a node or the executor.
    Log {
        /// Node id.
        node: String,
        /// Severity.
        level: LogLevel,
        /// The line.
        message: String,
    },
    /// A node finished computing.
    Finished {
        /// Node id.
        node: String,
        /// Wall-clock seconds it ran.
        seconds: f64,
    },
    /// A node failed; nodes depending on it are skipped.
    Error {
        /// Node id.
        node: String,
        /// What went wrong.
        message: String,
    },
    /// A node was not run because something it needs failed.
    Skipped {
        /// Node id.
        node: String,
        /// The failed upstream node.
        because: String,
    },
    /// A node stopped because the run was cancelled.
    Cancelled {
        /// Node id.
        node: String,
    },
    /// The run is over.
    RunFinished {
        /// How it ended.
        status: RunStatus,
        /// Wall-clock seconds.
        seconds: f64,
        /// Nodes computed.
        executed: usize,
        /// Nodes served from a cache.
        cached: usize,
        /// Nodes that failed.
        failed: usize,
        /// Nodes skipped because of a failure.
        skipped: usize,
    },
}

impl Event {
    /// The node the event concerns, if any.
    pub fn node(&self) -> Option<&str> {
        match self {
            Event::Started { node, .. }
            | Event::Cached { node, .. }
            | Event::Bypassed { node }
            | Event::Progress { node, .. }
            | Event::Log { node, .. }
            | Event::Finished { node, .. }
            | Event::Error { node, .. }
            | Event::Skipped { node, .. }
            | Event::Cancelled { node } => Some(node),
            Event::RunStarted { .. } | Event::RunFinished { .. } => None,
        }
    }

    /// The event as one line of JSON.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("events always serialise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_with_an_event_tag() {
        let e = Event::Cached {
            node: "a".into(),
            source: CacheSource::Disk,
        };
        assert_eq!(e.to_json_line(), r#"{"event":"cached","node":"a","source":"disk"}"#);
        let e = Event::Log {
            node: "a".into(),
            level: LogLevel::Warn,
            message: "m".into(),
        };
        assert_eq!(
            e.to_json_line(),
            r#"{"event":"log","node":"a","level":"warn","message":"m"}"#
        );
    }
}
