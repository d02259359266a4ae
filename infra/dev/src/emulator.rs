//! The AWS emulator: moto in server mode, from a project-local venv, through our launcher
//! (`infra/emulator/moto_launcher.py`, which documents its adjustments to moto).
//!
//! It listens on two ports serving the same moto: [`Emulator::endpoint`] for the local
//! cloud itself, and [`Emulator::functions_endpoint`] for the Lambda functions, the only one
//! where faults are injected ([`crate::faults`]).
//!
//! Everything here is synchronous (std processes and threads), so it can be started from
//! any thread or runtime, and a test can keep one emulator in a `static`.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, ErrorKind};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::repo::dev_dir;

/// How long moto may take to import and bind (it is ~2 s on a small machine).
const START_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error(
        "python3 was not found: the local cloud runs the AWS emulator (moto) in Python. \
         Install Python 3.9 or newer with venv support (Debian/Ubuntu: apt-get install python3 python3-venv)"
    )]
    PythonMissing,
    #[error("could not create the emulator's venv at {venv}: {reason}")]
    Venv { venv: PathBuf, reason: String },
    #[error("pip could not install infra/emulator/requirements.txt; see its log: {log}")]
    Pip { log: PathBuf },
    #[error("could not start the emulator: {0}")]
    Start(String),
    #[error("{action}: {source}")]
    Io {
        action: String,
        source: std::io::Error,
    },
}

fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> EmulatorError {
    let action = action.into();
    move |source| EmulatorError::Io { action, source }
}

/// Where the emulator's own output (moto's request log) goes.
#[derive(Clone, Debug)]
pub enum EmulatorLog {
    /// Warnings and errors, appended to this file.
    File(PathBuf),
    /// This process's stderr, with each request: `cargo dev emulator`.
    Inherit,
}

/// A running moto. Stopped when dropped; it also stops by itself when this process exits,
/// crash included, because it watches its stdin.
pub struct Emulator {
    child: Child,
    // Kept open: the launcher exits when this pipe closes.
    _stdin: ChildStdin,
    port: u16,
    functions_port: u16,
    log: EmulatorLog,
}

impl Emulator {
    /// Starts moto on `127.0.0.1:port` (0: any free port), installing the venv first if
    /// needed. Its log goes to `<repo>/.dev/logs/emulator.log`.
    pub fn start(repo_root: &Path, port: u16) -> Result<Emulator, EmulatorError> {
        let log = dev_dir(repo_root).join("logs").join("emulator.log");
        Emulator::start_with(repo_root, port, EmulatorLog::File(log), &|_| {})
    }

    /// [`Emulator::start`] with a choice of log and a progress callback, which hears
    /// `installing emulator (first run only)` before a venv install.
    pub fn start_with(
        repo_root: &Path,
        port: u16,
        log: EmulatorLog,
        progress: &dyn Fn(&str),
    ) -> Result<Emulator, EmulatorError> {
        let python = ensure_venv(repo_root, progress)?;
        let launcher = repo_root.join("infra/emulator/moto_launcher.py");
        let stderr = match &log {
            EmulatorLog::Inherit => Stdio::inherit(),
            EmulatorLog::File(path) => {
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir)
                        .map_err(io(format!("cannot create {}", dir.display())))?;
                }
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(io(format!("cannot open {}", path.display())))?;
                Stdio::from(file)
            }
        };
        let mut command = Command::new(&python);
        command
            .arg(&launcher)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()]);
        // A log file keeps what needs reading later; each request would drown it.
        if matches!(log, EmulatorLog::File(_)) {
            command.arg("--quiet");
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            // Its own process group: a Ctrl-C in the terminal reaches only `cargo dev`,
            // which then stops everything in order.
            .process_group(0)
            .spawn()
            .map_err(io(format!("cannot run {}", python.display())))?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");

        // Two lines say where it listens (`listening on URL`, `functions on URL`), or one
        // line why it cannot (`error: reason`).
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut first = String::new();
            let mut second = String::new();
            let _ = stdout.read_line(&mut first);
            if first.starts_with("listening on ") {
                let _ = stdout.read_line(&mut second);
            }
            let _ = tx.send((first, second));
        });
        let mut emulator = Emulator {
            child,
            _stdin: stdin,
            port: 0,
            functions_port: 0,
            log,
        };
        let (first, second) = match rx.recv_timeout(START_TIMEOUT) {
            Ok(lines) => lines,
            Err(_) => {
                return Err(EmulatorError::Start(format!(
                    "moto did not report ready within {}s{}",
                    START_TIMEOUT.as_secs(),
                    emulator.log_hint()
                )));
            }
        };
        let (first, second) = (first.trim(), second.trim());
        if let Some(url) = first.strip_prefix("listening on ") {
            let Some(functions) = second.strip_prefix("functions on ") else {
                if let Some(reason) = second.strip_prefix("error: ") {
                    return Err(EmulatorError::Start(reason.to_owned()));
                }
                return Err(EmulatorError::Start(format!(
                    "the launcher named no port for the functions{}",
                    emulator.log_hint()
                )));
            };
            emulator.port = port_of(url, first)?;
            emulator.functions_port = port_of(functions, second)?;
            return Ok(emulator);
        }
        if let Some(reason) = first.strip_prefix("error: ") {
            return Err(EmulatorError::Start(reason.to_owned()));
        }
        Err(EmulatorError::Start(format!(
            "moto exited before it was ready{}",
            emulator.log_hint()
        )))
    }

    /// `http://127.0.0.1:<port>`: the local cloud's own port, which never injects faults.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`: the same moto, for the Lambda functions' AWS calls; the
    /// faults set with [`crate::faults::set_faults`] happen here only.
    pub fn functions_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.functions_port)
    }

    pub fn functions_port(&self) -> u16 {
        self.functions_port
    }

    /// Waits until moto exits (it runs until this process ends or it is stopped).
    pub fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.child.wait()
    }

    fn log_hint(&self) -> String {
        match &self.log {
            EmulatorLog::File(path) => format!("; see {}", path.display()),
            EmulatorLog::Inherit => String::new(),
        }
    }
}

/// The port at the end of `url`, from the launcher's `line`.
fn port_of(url: &str, line: &str) -> Result<u16, EmulatorError> {
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| EmulatorError::Start(format!("unexpected launcher output: {line}")))
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes sure `<repo>/.dev/venv` has the pinned requirements and returns its python.
///
/// A file lock serializes concurrent callers (several test binaries, a second terminal);
/// a stamp with the hash of `requirements.txt` makes a change of pins reinstall.
pub fn ensure_venv(repo_root: &Path, progress: &dyn Fn(&str)) -> Result<PathBuf, EmulatorError> {
    let dev = dev_dir(repo_root);
    let venv = dev.join("venv");
    let python = venv.join("bin/python");
    let stamp = venv.join(".requirements.sha256");
    let requirements = repo_root.join("infra/emulator/requirements.txt");
    let wanted = fs::read(&requirements)
        .map(|bytes| hex::encode(Sha256::digest(bytes)))
        .map_err(io(format!("cannot read {}", requirements.display())))?;
    let installed =
        || fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == wanted) && python.is_file();
    if installed() {
        return Ok(python);
    }

    fs::create_dir_all(&dev).map_err(io(format!("cannot create {}", dev.display())))?;
    let lock_path = dev.join("venv.lock");
    let lock =
        File::create(&lock_path).map_err(io(format!("cannot create {}", lock_path.display())))?;
    lock.lock()
        .map_err(io(format!("cannot lock {}", lock_path.display())))?;
    // Someone else may have installed it while we waited for the lock.
    if installed() {
        return Ok(python);
    }
    progress("installing emulator (first run only)");
    if !python.is_file() {
        // --clear: a venv whose interpreter vanished (Python upgraded or moved) is rebuilt.
        let created = Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv)
            .output()
            .map_err(|e| match e.kind() {
                ErrorKind::NotFound => EmulatorError::PythonMissing,
                _ => EmulatorError::Venv {
                    venv: venv.clone(),
                    reason: e.to_string(),
                },
            })?;
        if !created.status.success() {
            return Err(EmulatorError::Venv {
                venv,
                reason: format!(
                    "{} (Debian/Ubuntu need the python3-venv package)",
                    String::from_utf8_lossy(&created.stderr).trim()
                ),
            });
        }
    }
    let log_path = dev.join("pip.log");
    let log =
        File::create(&log_path).map_err(io(format!("cannot create {}", log_path.display())))?;
    let log_err = log
        .try_clone()
        .map_err(io(format!("cannot open {}", log_path.display())))?;
    let status = Command::new(&python)
        .args(["-m", "pip", "install", "--disable-pip-version-check", "-r"])
        .arg(&requirements)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .status()
        .map_err(io(format!("cannot run {}", python.display())))?;
    if !status.success() {
        return Err(EmulatorError::Pip { log: log_path });
    }
    fs::write(&stamp, &wanted).map_err(io(format!("cannot write {}", stamp.display())))?;
    Ok(python)
}
