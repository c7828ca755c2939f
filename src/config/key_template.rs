//! The object key template a flow's destination declares, and why one is
//! unusable. `flows/sink/keys.rs` fills the placeholders in at run time.

pub const DEFAULT_TEMPLATE: &str = "{flow}/{yyyy}/{MM}/{dd}/{run_id}/part-{part}";
const PLACEHOLDERS: [&str; 7] = ["flow", "run_id", "yyyy", "MM", "dd", "HH", "part"];

/// Why a key template is unusable, or None. Keys never climb out of the
/// destination: no `..`, no leading `/`, nothing but safe characters.
pub fn check_template(template: &str) -> Option<String> {
    let Some((folder, name)) = template.rsplit_once('/') else {
        return Some("the key needs a folder with {run_id} and a file name with {part}".into());
    };
    if !folder.contains("{run_id}") {
        return Some(
            "`{run_id}` must be in the folder part, so each run has its own folder (and manifest)"
                .into(),
        );
    }
    if !name.contains("{part}") {
        return Some("`{part}` must be in the file name".into());
    }
    if template.starts_with('/')
        || template
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Some("the key must be relative, without empty, `.` or `..` segments".into());
    }
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            return Some("unclosed `{` in the key".into());
        };
        let name = &rest[open + 1..open + close];
        if !PLACEHOLDERS.contains(&name) {
            return Some(format!(
                "unknown placeholder `{{{name}}}`; known: {}",
                PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(" ")
            ));
        }
        rest = &rest[open + close + 1..];
    }
    let plain = PLACEHOLDERS.iter().fold(template.to_string(), |t, p| {
        t.replace(&format!("{{{p}}}"), "x")
    });
    if !plain
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./=".contains(c))
    {
        return Some("the key may hold letters, digits and - _ . / = besides placeholders".into());
    }
    None
}
