//! Managed rule groups: SQL injection and XSS through libinjection (a real
//! tokenizer, not keyword lists, so "O'Brien" and prose about unions pass),
//! path traversal / local file inclusion, remote command injection, and known
//! bad inputs (JNDI lookups, shellshock).

use super::Inputs;
use crate::config::waf::ManagedGroup;
use regex::Regex;
use std::sync::LazyLock;

static COMMAND: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:[;|&`\n]|\$\(|\|\|)\s*(?:[\w.-]*/)*(?:cat|ls|id|uname|whoami|wget|curl|nc|ncat|netcat|bash|sh|zsh|python[0-9.]*|perl|ruby|php|ping|nslookup|rm|chmod|chown|powershell|cmd(?:\.exe)?|echo|sleep|kill)\b|\$\{ifs\}",
    )
    .expect("static regex")
});

static SENSITIVE_FILES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:/etc/(?:passwd|shadow|hosts|group)|/proc/self/|/windows/(?:win\.ini|system32)|boot\.ini|\.\./|/\.\.$|\x00)")
        .expect("static regex")
});

/// `${jndi:...}` and its obfuscated forms (`${${lower:j}ndi:...}`, `${::-j}`).
static JNDI: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\$\{\s*jndi\s*:|\$\{[^{}]*\$\{[^{}]*\}|\$\{::-").expect("static regex")
});

/// The value as a shell reads the words in it: quotes, backslashes and
/// carets (cmd.exe's escape) inside a word do not change the command
/// (`c'a't`, `w\hoami`, `wh^oami`).
fn shell_quoting_removed(v: &str) -> std::borrow::Cow<'_, str> {
    if v.contains(['\'', '"', '\\', '^']) {
        v.chars()
            .filter(|c| !matches!(c, '\'' | '"' | '\\' | '^'))
            .collect::<String>()
            .into()
    } else {
        v.into()
    }
}

/// The first group in `groups` that `inputs` trips, if any.
pub fn check(groups: &[ManagedGroup], inputs: &Inputs<'_>) -> Option<ManagedGroup> {
    groups.iter().copied().find(|g| trips(*g, inputs))
}

fn trips(group: ManagedGroup, inputs: &Inputs<'_>) -> bool {
    match group {
        ManagedGroup::Sqli => inputs
            .values()
            .any(|v| libinjectionrs::detect_sqli(v.as_bytes()).is_injection()),
        ManagedGroup::Xss => inputs
            .values()
            .any(|v| libinjectionrs::detect_xss(v.as_bytes()).is_injection()),
        ManagedGroup::PathTraversal => inputs
            .path_and_values()
            .any(|v| SENSITIVE_FILES.is_match(&v.replace('\\', "/"))),
        ManagedGroup::CommandInjection => inputs
            .values()
            .any(|v| COMMAND.is_match(&shell_quoting_removed(v))),
        ManagedGroup::KnownBadInputs => inputs
            .everything()
            .any(|v| (v.contains("${") && JNDI.is_match(v)) || v.trim_start().starts_with("() {")),
    }
}
