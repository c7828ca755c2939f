//! Object keys from templates: `{flow}`, `{run_id}`, `{yyyy}`, `{MM}`,
//! `{dd}`, `{HH}` (the run's start, UTC) and `{part}` (00000, 00001, ...).

#[cfg(test)]
use crate::config::key_template::{check_template, DEFAULT_TEMPLATE};
use chrono::{DateTime, Datelike, Timelike, Utc};

pub struct KeyContext {
    pub flow: String,
    pub run_id: String,
    pub started: DateTime<Utc>,
}

impl KeyContext {
    pub fn render(&self, template: &str, part: u32, extension: &str) -> String {
        let filled = template
            .replace("{flow}", &self.flow)
            .replace("{run_id}", &self.run_id)
            .replace("{yyyy}", &format!("{:04}", self.started.year()))
            .replace("{MM}", &format!("{:02}", self.started.month()))
            .replace("{dd}", &format!("{:02}", self.started.day()))
            .replace("{HH}", &format!("{:02}", self.started.hour()))
            .replace("{part}", &format!("{part:05}"));
        format!("{filled}.{extension}")
    }

    /// `_manifest.json` in the run's folder (the template's folder part).
    pub fn manifest_key(&self, template: &str) -> String {
        let folder = template.rsplit_once('/').map_or("", |(folder, _)| folder);
        let rendered = self.render(folder, 0, "x");
        let rendered = rendered.strip_suffix(".x").unwrap_or(&rendered);
        if rendered.is_empty() {
            "_manifest.json".to_string()
        } else {
            format!("{rendered}/_manifest.json")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let ctx = KeyContext {
            flow: "orders".into(),
            run_id: "r1".into(),
            started: DateTime::parse_from_rfc3339("2026-03-04T05:06:07Z")
                .unwrap()
                .to_utc(),
        };
        assert_eq!(
            ctx.render(DEFAULT_TEMPLATE, 2, "jsonl"),
            "orders/2026/03/04/r1/part-00002.jsonl"
        );
        assert_eq!(
            ctx.manifest_key(DEFAULT_TEMPLATE),
            "orders/2026/03/04/r1/_manifest.json"
        );
        assert_eq!(check_template(DEFAULT_TEMPLATE), None);
        assert!(check_template("{flow}/part-{part}").is_some());
        assert!(check_template("{run_id}/data").is_some());
        assert!(check_template("../{run_id}/p{part}").is_some());
        assert!(check_template("/abs/{run_id}/p{part}").is_some());
        assert!(check_template("{run_id}/{nope}{part}")
            .unwrap()
            .contains("unknown placeholder"));
        assert!(check_template("{run_id}/a b{part}").is_some());
        assert_eq!(check_template("dt={yyyy}-{MM}/{run_id}/p{part}"), None);
    }
}
