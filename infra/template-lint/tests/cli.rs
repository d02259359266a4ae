//! The binary as CI runs it: exit 0 on the real template, 1 and a line per finding otherwise.

use std::process::Command;

const TEMPLATE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");

fn run(path: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_template-lint"))
        .arg(path)
        .output()
        .expect("template-lint runs");
    let stdout = String::from_utf8(out.stdout).unwrap();
    (out.status.code().unwrap_or(-1), stdout)
}

#[test]
fn the_real_template_passes() {
    let (code, stdout) = run(TEMPLATE);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("no findings"), "{stdout}");
}

#[test]
fn a_planted_fault_fails_with_a_line_naming_resource_and_rule() {
    let mut template: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(TEMPLATE).unwrap()).unwrap();
    template_lint::properties_mut(&mut template, "NotificationsQueue")
        .unwrap()
        .remove("RedrivePolicy");
    let dir = std::env::temp_dir().join(format!("template-lint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let planted = dir.join("template.yaml");
    std::fs::write(&planted, serde_norway::to_string(&template).unwrap()).unwrap();

    let (code, stdout) = run(planted.to_str().unwrap());
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with(&format!(
            "{}: NotificationsQueue: queue-without-dlq: has no RedrivePolicy",
            planted.display()
        ))),
        "{stdout}"
    );
}

#[test]
fn an_unreadable_file_exits_2() {
    let (code, _) = run("/nonexistent/template.yaml");
    assert_eq!(code, 2);
}
