//! Where function output and the local cloud's own messages go: the terminal for
//! `cargo dev up`, files under `.dev/logs` when the cloud runs inside tests. The functions'
//! metric lines (EMF) are counted in [`Stats`] on the way.

use crate::stats::Stats;
use crate::traces::Traces;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub enum LogOutput {
    /// Function lines on stdout, prefixed with the function; the cloud's own on stderr.
    Terminal,
    /// One file per function (`orders-api.log`) and `dev.log`, appended, in this directory.
    Dir(PathBuf),
}

impl LogOutput {
    /// The directory of the log files, if there are any.
    pub fn dir(&self) -> Option<&PathBuf> {
        match self {
            LogOutput::Dir(dir) => Some(dir),
            LogOutput::Terminal => None,
        }
    }
}

#[derive(Clone)]
pub struct Logs {
    output: LogOutput,
    files: Arc<Mutex<HashMap<String, File>>>,
    stats: Stats,
    traces: Traces,
}

impl Logs {
    pub fn new(output: LogOutput) -> Logs {
        Logs {
            output,
            files: Arc::default(),
            stats: Stats::default(),
            traces: Traces::default(),
        }
    }

    /// What the functions' metric lines and invocations add up to so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The invocations' traces: what the runtime handed out, what the functions sent the
    /// local X-Ray daemon.
    pub fn traces(&self) -> &Traces {
        &self.traces
    }

    /// A line a function process printed; `source` is `orders-api#1`.
    pub fn function(&self, function: &str, source: &str, line: &str) {
        let metrics = self.stats.record_line(function, line);
        match &self.output {
            // Metric lines are for CloudWatch: `cargo dev stats` and /_dev show their sums.
            LogOutput::Terminal if metrics => {}
            LogOutput::Terminal => println!("{source:>20} | {line}"),
            LogOutput::Dir(_) => self.append(function, &format!("{source} | {line}")),
        }
    }

    /// A message from the local cloud itself (restarts, poller errors).
    pub fn dev(&self, source: &str, message: &str) {
        match &self.output {
            LogOutput::Terminal => eprintln!("{source:>20} | {message}"),
            LogOutput::Dir(_) => self.append("dev", &format!("{source} | {message}")),
        }
    }

    fn append(&self, file: &str, line: &str) {
        let LogOutput::Dir(dir) = &self.output else {
            return;
        };
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if !files.contains_key(file) {
            let opened = std::fs::create_dir_all(dir).and_then(|()| {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(format!("{file}.log")))
            });
            match opened {
                Ok(handle) => {
                    files.insert(file.to_owned(), handle);
                }
                // Losing a log line must not stop the cloud; say so once on stderr.
                Err(e) => {
                    eprintln!("cannot write {}/{file}.log: {e}", dir.display());
                    return;
                }
            }
        }
        if let Some(handle) = files.get_mut(file) {
            let _ = writeln!(handle, "{line}");
        }
    }
}
