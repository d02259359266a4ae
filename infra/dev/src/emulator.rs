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
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
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
    #[error("pip could not install {requirements}; see its log: {log}")]
    Pip { requirements: String, log: PathBuf },
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
        let mut command = Command::new(&python);
        command
            .arg(repo_root.join("infra/emulator/moto_launcher.py"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()]);
        // A log file keeps what needs reading later; each request would drown it.
        if matches!(log, EmulatorLog::File(_)) {
            command.arg("--quiet");
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log.stdio()?)
            // Its own process group: a Ctrl-C in the terminal reaches only `cargo dev`,
            // which then stops everything in order.
            .process_group(0)
            .spawn()
            .map_err(io(format!("cannot run {}", python.display())))?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let report = first_lines(child.stdout.take().expect("stdout is piped"));
        let mut emulator = Emulator {
            child,
            _stdin: stdin,
            port: 0,
            functions_port: 0,
            log,
        };
        let Ok((first, second)) = report.recv_timeout(START_TIMEOUT) else {
            let timeout = START_TIMEOUT.as_secs();
            return Err(emulator.failed(&format!("moto did not report ready within {timeout}s")));
        };
        emulator.read_ports(first.trim(), second.trim())?;
        Ok(emulator)
    }

    /// Takes the ports from the launcher's two lines (`listening on URL`, `functions on
    /// URL`), or says why it did not start (`error: reason`).
    fn read_ports(&mut self, first: &str, second: &str) -> Result<(), EmulatorError> {
        let error = |line: &str| {
            let reason = line.strip_prefix("error: ")?;
            Some(EmulatorError::Start(reason.to_owned()))
        };
        let Some(url) = first.strip_prefix("listening on ") else {
            return Err(
                error(first).unwrap_or_else(|| self.failed("moto exited before it was ready"))
            );
        };
        let Some(functions) = second.strip_prefix("functions on ") else {
            return Err(error(second)
                .unwrap_or_else(|| self.failed("the launcher named no port for the functions")));
        };
        self.port = port_of(url, first)?;
        self.functions_port = port_of(functions, second)?;
        Ok(())
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

    /// A start that failed for `reason`, with where to read more.
    fn failed(&self, reason: &str) -> EmulatorError {
        let hint = match &self.log {
            EmulatorLog::File(path) => format!("; see {}", path.display()),
            EmulatorLog::Inherit => String::new(),
        };
        EmulatorError::Start(format!("{reason}{hint}"))
    }
}

impl EmulatorLog {
    /// Where the emulator's stderr goes.
    fn stdio(&self) -> Result<Stdio, EmulatorError> {
        let EmulatorLog::File(path) = self else {
            return Ok(Stdio::inherit());
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io(format!("cannot open {}", path.display())))?;
        Ok(Stdio::from(file))
    }
}

/// The launcher's first line, and its second after a `listening on` first, read on a
/// thread so that the wait for them can time out.
fn first_lines(stdout: ChildStdout) -> mpsc::Receiver<(String, String)> {
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
    rx
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

/// A venv under `<repo>/.dev` holding the pins of one requirements file.
pub struct Pinned<'a> {
    /// The venv's directory under `.dev`; its lock is `.dev/<venv>.lock`.
    pub venv: &'a str,
    /// The requirements file, from the repository's root.
    pub requirements: &'a str,
    /// pip's output, under `.dev`.
    pub log: &'a str,
    /// What the first run's progress line says it installs.
    pub what: &'a str,
}

/// The local cloud's Python tools.
const EMULATOR: Pinned<'static> = Pinned {
    venv: "venv",
    requirements: "infra/emulator/requirements.txt",
    log: "pip.log",
    what: "emulator",
};

/// Makes sure `<repo>/.dev/venv` has the pinned requirements and returns its python.
pub fn ensure_venv(repo_root: &Path, progress: &dyn Fn(&str)) -> Result<PathBuf, EmulatorError> {
    ensure_pinned(repo_root, &EMULATOR, progress)
}

/// Makes sure the venv of `pinned` has its requirements and returns its python.
///
/// A file lock serializes concurrent callers (several test binaries, a second terminal);
/// a stamp with the hash of the requirements file makes a change of pins reinstall.
pub fn ensure_pinned(
    repo_root: &Path,
    pinned: &Pinned,
    progress: &dyn Fn(&str),
) -> Result<PathBuf, EmulatorError> {
    let dev = dev_dir(repo_root);
    let venv = dev.join(pinned.venv);
    let python = venv.join("bin/python");
    let stamp = venv.join(".requirements.sha256");
    let requirements = repo_root.join(pinned.requirements);
    let wanted = fs::read(&requirements)
        .map(|bytes| hex::encode(Sha256::digest(bytes)))
        .map_err(io(format!("cannot read {}", requirements.display())))?;
    let installed =
        || fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == wanted) && python.is_file();
    if installed() {
        return Ok(python);
    }

    fs::create_dir_all(&dev).map_err(io(format!("cannot create {}", dev.display())))?;
    let lock_path = dev.join(format!("{}.lock", pinned.venv));
    let lock =
        File::create(&lock_path).map_err(io(format!("cannot create {}", lock_path.display())))?;
    lock.lock()
        .map_err(io(format!("cannot lock {}", lock_path.display())))?;
    // Someone else may have installed it while we waited for the lock.
    if installed() {
        return Ok(python);
    }
    progress(&format!("installing {} (first run only)", pinned.what));
    if !python.is_file() {
        create_venv(&venv)?;
    }
    pip_install(
        &python,
        pinned.requirements,
        &requirements,
        &dev.join(pinned.log),
    )?;
    fs::write(&stamp, &wanted).map_err(io(format!("cannot write {}", stamp.display())))?;
    Ok(python)
}

/// A new venv at `venv`; `--clear`: one whose interpreter vanished (Python upgraded or moved)
/// is rebuilt.
fn create_venv(venv: &Path) -> Result<(), EmulatorError> {
    let failed = |reason: String| EmulatorError::Venv {
        venv: venv.to_owned(),
        reason,
    };
    let created = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(venv)
        .output()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => EmulatorError::PythonMissing,
            _ => failed(e.to_string()),
        })?;
    if !created.status.success() {
        return Err(failed(format!(
            "{} (Debian/Ubuntu need the python3-venv package)",
            String::from_utf8_lossy(&created.stderr).trim()
        )));
    }
    Ok(())
}

/// `pip install -r requirements` into the venv of `python`, its output in `log_path`;
/// `name` is how an error names the requirements.
fn pip_install(
    python: &Path,
    name: &str,
    requirements: &Path,
    log_path: &Path,
) -> Result<(), EmulatorError> {
    let log =
        File::create(log_path).map_err(io(format!("cannot create {}", log_path.display())))?;
    let log_err = log
        .try_clone()
        .map_err(io(format!("cannot open {}", log_path.display())))?;
    let status = Command::new(python)
        .args(["-m", "pip", "install", "--disable-pip-version-check", "-r"])
        .arg(requirements)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .status()
        .map_err(io(format!("cannot run {}", python.display())))?;
    if !status.success() {
        return Err(EmulatorError::Pip {
            requirements: name.to_owned(),
            log: log_path.to_owned(),
        });
    }
    Ok(())
}
