//! `template-lint [TEMPLATE]`: prints one line per finding, `<file>: <resource>: <rule>: ...`,
//! and exits 1 if there is any (2 if the file cannot be read or parsed). TEMPLATE defaults to
//! `template.yaml`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "template.yaml".to_owned());
    if args.next().is_some() || path.starts_with('-') {
        eprintln!("usage: template-lint [TEMPLATE]");
        return ExitCode::from(2);
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("template-lint: cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let findings = match template_lint::check_yaml(&text) {
        Ok(findings) => findings,
        Err(e) => {
            eprintln!("template-lint: {path} is not a valid template: {e}");
            return ExitCode::from(2);
        }
    };
    for finding in &findings {
        println!("{path}: {finding}");
    }
    if findings.is_empty() {
        println!("template-lint: {path}: no findings");
        ExitCode::SUCCESS
    } else {
        println!("template-lint: {path}: {} finding(s)", findings.len());
        ExitCode::FAILURE
    }
}
