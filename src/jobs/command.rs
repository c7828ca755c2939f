//! Running a job definition's command (a job's attempt, a worker's batch
//! with its event on stdin). Never through a shell unless the definition
//! says `shell`; its environment is only what the definition lists; CPU
//! time and address space are capped with rlimits; it runs in its own
//! process group, killed whole at the timeout. stdout and stderr are kept
//! up to `output_limit` each (the rest is read and dropped, so a chatty
//! command never blocks on a full pipe).

use crate::config::model::CommandSpec;
use std::process::Stdio;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// How a run ended.
#[derive(Debug)]
pub struct Ran {
    /// The exit code; None when killed (timeout, a signal, a limit).
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

pub async fn run(spec: &CommandSpec, input: &[u8]) -> std::io::Result<Ran> {
    let mut cmd = if spec.shell {
        let mut c = tokio::process::Command::new("/bin/sh");
        c.arg("-c").arg(&spec.program);
        c
    } else {
        let mut c = tokio::process::Command::new(&spec.program);
        c.args(&spec.args);
        c
    };
    cmd.env_clear()
        .envs(&spec.env)
        .current_dir(&spec.working_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let (cpu, memory) = (spec.cpu_seconds, spec.memory);
    if cpu.is_some() || memory.is_some() {
        // SAFETY: runs in the child between fork and exec; setrlimit is a
        // plain system call (async-signal-safe) and nothing is allocated.
        unsafe {
            cmd.pre_exec(move || {
                use rustix::process::{setrlimit, Resource, Rlimit};
                if let Some(secs) = cpu {
                    let limit = Rlimit {
                        current: Some(secs),
                        maximum: Some(secs),
                    };
                    setrlimit(Resource::Cpu, limit)?;
                }
                if let Some(bytes) = memory {
                    let limit = Rlimit {
                        current: Some(bytes),
                        maximum: Some(bytes),
                    };
                    setrlimit(Resource::As, limit)?;
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn()?;
    let pid = child.id();
    // Whatever ends this run early (a timeout, a cancelled job, the task
    // dropped) ends the whole process group with it.
    let mut group = Group(pid);
    let mut stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let limit = spec.output_limit;
    let input = input.to_vec();
    let feed = async move {
        if let Some(mut s) = stdin.take() {
            // A command that does not read its input is not an error.
            let _ = s.write_all(&input).await;
        }
    };
    let work = async {
        let (_, out, err, status) = tokio::join!(
            feed,
            capture(stdout, limit),
            capture(stderr, limit),
            child.wait()
        );
        (out, err, status)
    };
    match tokio::time::timeout(spec.timeout, work).await {
        Ok((stdout, stderr, status)) => {
            group.0 = None;
            Ok(Ran {
                exit_code: status?.code(),
                timed_out: false,
                stdout,
                stderr,
            })
        }
        Err(_) => {
            drop(group);
            Ok(Ran {
                exit_code: None,
                timed_out: true,
                stdout: Vec::new(),
                stderr: Vec::new(),
            })
        }
    }
}

/// The command's process group, killed when dropped unless it finished.
struct Group(Option<u32>);

impl Drop for Group {
    fn drop(&mut self) {
        let Some(pid) = self
            .0
            .and_then(|p| rustix::process::Pid::from_raw(p as i32))
        else {
            return;
        };
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

async fn capture(stream: Option<impl AsyncRead + Unpin>, limit: usize) -> Vec<u8> {
    let Some(mut stream) = stream else {
        return Vec::new();
    };
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn spec(program: &str, args: &[&str], shell: bool) -> CommandSpec {
        CommandSpec {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            shell,
            env: BTreeMap::from([("ONLY".to_string(), "this".to_string())]),
            working_dir: std::env::temp_dir(),
            timeout: Duration::from_secs(10),
            cpu_seconds: None,
            memory: None,
            output_limit: 16,
        }
    }

    #[tokio::test]
    async fn stdin_in_stdout_out_and_only_the_listed_environment() {
        let ran = run(&spec("/bin/cat", &[], false), b"hello").await.unwrap();
        assert_eq!(
            (ran.exit_code, ran.stdout.as_slice()),
            (Some(0), &b"hello"[..])
        );
        let env = run(&spec("/usr/bin/env", &[], false), b"").await.unwrap();
        assert_eq!(String::from_utf8_lossy(&env.stdout), "ONLY=this\n");
        // Output past the limit is dropped, and the command still finishes.
        let big = run(&spec("head -c 100000 /dev/zero; exit 3", &[], true), b"")
            .await
            .unwrap();
        assert_eq!((big.exit_code, big.stdout.len()), (Some(3), 16));
    }

    #[tokio::test]
    async fn no_shell_unless_asked() {
        // Without `shell`, a script is a program name that does not exist.
        assert!(run(&spec("echo hi; exit 0", &[], false), b"")
            .await
            .is_err());
        let shelled = run(&spec("echo hi", &[], true), b"").await.unwrap();
        assert_eq!(shelled.stdout, b"hi\n");
    }

    #[tokio::test]
    async fn timeouts_kill_the_whole_group() {
        let mut s = spec("sleep 30 & sleep 30", &[], true);
        s.timeout = Duration::from_millis(200);
        let started = std::time::Instant::now();
        let ran = run(&s, b"").await.unwrap();
        assert!(ran.timed_out && ran.exit_code.is_none());
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn limits_apply() {
        let mut s = spec("/bin/sh", &["-c", "ulimit -t; ulimit -v"], false);
        s.cpu_seconds = Some(7);
        s.memory = Some(512 * 1024 * 1024);
        let ran = run(&s, b"").await.unwrap();
        assert_eq!(String::from_utf8_lossy(&ran.stdout), "7\n524288\n");
    }
}
