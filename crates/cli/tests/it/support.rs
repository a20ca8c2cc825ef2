//! The command helper: a store in a temp dir, the binary run on it with a
//! private HOME, and readers of a child's output with deadlines.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_scout-audit");

/// A fixed "now" for the tests that need one.
pub const NOW: &str = "2026-03-01T12:00:00Z";

/// A temp dir holding a store at `s/audit.jsonl` and a HOME at `home`
/// (never created by the helper: tests check it stays absent).
pub struct Store {
    pub dir: tempfile::TempDir,
    /// The live file's path.
    pub path: PathBuf,
}

impl Store {
    pub fn new() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s").join("audit.jsonl");
        Store { dir, path }
    }

    /// The store's directory.
    pub fn store_dir(&self) -> PathBuf {
        self.path.parent().unwrap().to_path_buf()
    }

    /// The HOME every command of this store runs with.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// `scout-audit --path <store> ARGS`.
    pub fn cmd(&self, args: &[&str]) -> Cmd {
        let mut c = self.bare(&[]);
        c.cmd.arg("--path").arg(&self.path).args(args);
        c
    }

    /// `scout-audit ARGS` without `--path` (HOME private, no SCOUT_AUDIT_PATH).
    pub fn bare(&self, args: &[&str]) -> Cmd {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("HOME", self.home())
            .env_remove("SCOUT_AUDIT_PATH")
            .current_dir(self.dir.path());
        Cmd { cmd, stdin: None }
    }

    /// Runs a command that must succeed quietly; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.cmd(args).run().ok()
    }

    /// Logs JSON lines through `log --stdin`, which must succeed quietly.
    pub fn log_lines(&self, extra: &[&str], lines: &[Value]) -> String {
        let mut args = vec!["log", "--stdin"];
        args.extend_from_slice(extra);
        self.cmd(&args).stdin(jsonl_text(lines)).run().ok()
    }

    /// Every record, in log order, via `query --format jsonl`.
    pub fn records(&self) -> Vec<Value> {
        parse_jsonl(&self.ok(&["query", "--format", "jsonl"]))
    }

    /// The file names in the store's directory, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.store_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    /// Writes a file in the store's directory (creating the directory).
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) {
        std::fs::create_dir_all(self.store_dir()).unwrap();
        std::fs::write(self.store_dir().join(name), bytes).unwrap();
    }

    /// The path of a file of the store's directory, as the CLI prints it.
    pub fn file(&self, name: &str) -> String {
        self.store_dir().join(name).display().to_string()
    }
}

/// A command to run, with optional stdin.
pub struct Cmd {
    pub cmd: Command,
    stdin: Option<Vec<u8>>,
}

impl Cmd {
    /// More arguments.
    pub fn args(mut self, args: &[&str]) -> Cmd {
        self.cmd.args(args);
        self
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = Some(bytes.into());
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Cmd {
        self.cmd.env(k, v);
        self
    }

    /// Runs to the end.
    pub fn run(mut self) -> Out {
        self.cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.cmd.spawn().unwrap();
        if let Some(bytes) = self.stdin.take() {
            let mut w = child.stdin.take().unwrap();
            // Written from a thread: the child may fill its stdout first.
            std::thread::spawn(move || {
                let _ = w.write_all(&bytes);
            });
        }
        let o = child.wait_with_output().unwrap();
        Out {
            code: o.status.code(),
            stdout: String::from_utf8(o.stdout).unwrap(),
            stderr: String::from_utf8(o.stderr).unwrap(),
        }
    }

    /// Starts it with every stream piped.
    pub fn spawn(mut self) -> Child {
        self.cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// What a finished command did.
#[derive(Debug)]
pub struct Out {
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Asserts exit 0 and an empty stderr; the stdout.
    #[track_caller]
    pub fn ok(self) -> String {
        assert_eq!(
            (self.code, self.stderr.as_str()),
            (Some(0), ""),
            "stdout: {}",
            self.stdout
        );
        self.stdout
    }

    /// Asserts a failure (exit 1) with exactly one line on stderr starting
    /// with `scout-audit: error: ` and nothing on stdout; that line.
    #[track_caller]
    pub fn error(self) -> String {
        assert_eq!(self.code, Some(1), "{self:?}");
        assert_eq!(self.stdout, "", "{self:?}");
        assert!(
            self.stderr.starts_with("scout-audit: error: ") && self.stderr.lines().count() == 1,
            "{self:?}"
        );
        self.stderr.trim_end().to_owned()
    }
}

pub fn jsonl_text(lines: &[Value]) -> String {
    lines.iter().map(|v| format!("{v}\n")).collect()
}

pub fn parse_jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

/// One field of every record.
pub fn column(records: &[Value], key: &str) -> Vec<Value> {
    records
        .iter()
        .map(|r| r.get(key).cloned().unwrap_or(Value::Null))
        .collect()
}

/// Lines of a child's stream, read by a thread, taken with deadlines.
pub struct Lines {
    rx: Receiver<String>,
}

impl Lines {
    pub fn new(r: impl Read + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(r).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines { rx }
    }

    /// The next line, `None` at the end of the stream.
    #[track_caller]
    pub fn next(&self, timeout: Duration) -> Option<String> {
        match self.rx.recv_timeout(timeout) {
            Ok(l) => Some(l),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!("no line within {timeout:?}"),
        }
    }

    /// Exactly `n` lines, all within `timeout`.
    #[track_caller]
    pub fn take(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(l) => got.push(l),
                Err(e) => panic!("{e:?} after {} of {n} lines: {got:?}", got.len()),
            }
        }
        got
    }

    /// Every line until the stream ends.
    pub fn rest(&self) -> Vec<String> {
        self.rx.iter().collect()
    }
}

/// Feeds `log --stdin --ack` one chunk at a time, waiting for each chunk's
/// acknowledgements before the next, so a small `--rotate-size` rotates
/// between chunks. Returns every acknowledgement in order.
pub fn feed_in_step(
    stdin: &mut ChildStdin,
    acks: &Lines,
    lines: &[Value],
    chunk: usize,
) -> Vec<u64> {
    let mut got = Vec::with_capacity(lines.len());
    for part in lines.chunks(chunk) {
        stdin.write_all(jsonl_text(part).as_bytes()).unwrap();
        stdin.flush().unwrap();
        for a in acks.take(part.len(), Duration::from_secs(5)) {
            got.push(a.parse().unwrap());
        }
    }
    got
}

/// `n` events `{"event": event, "i": k, "pad": ...}` for k in 0..n.
pub fn numbered(event: &str, n: u64) -> Vec<Value> {
    (0..n)
        .map(|i| serde_json::json!({"event": event, "i": i, "pad": "p".repeat(40)}))
        .collect()
}

/// The gzip archive the CLI makes of a live file holding `text` (a scratch
/// store sealed with `rotate`): what a real archive of those lines is.
pub fn archive_of(text: &str) -> Vec<u8> {
    let s = Store::new();
    s.write("audit.jsonl", text);
    let sealed = s.ok(&["rotate"]);
    let name = sealed.trim().strip_prefix("sealed ").unwrap();
    std::fs::read(s.store_dir().join(format!("{name}.gz"))).unwrap()
}

/// `2026-11-27T05:21:16.123456+00:00`: Python's isoformat, whose
/// microseconds are left out when they are 0.
pub fn assert_python_ts(ts: &Value) {
    let s = ts.as_str().unwrap();
    assert!(s.ends_with("+00:00"), "{s}");
    let s = if s.len() == 25 {
        format!("{}.000000+00:00", &s[..19])
    } else {
        s.to_owned()
    };
    let b = s.as_bytes();
    assert_eq!(s.len(), 32, "{s}");
    for (i, c) in b.iter().enumerate() {
        let want = match i {
            4 | 7 => Some(b'-'),
            10 => Some(b'T'),
            13 | 16 => Some(b':'),
            19 => Some(b'.'),
            26.. => None,
            _ => {
                assert!(c.is_ascii_digit(), "{s}");
                None
            }
        };
        if let Some(w) = want {
            assert_eq!(*c, w, "{s}");
        }
    }
}

/// A uuid4 string.
pub fn assert_uuid4(v: &Value) {
    let s = v.as_str().unwrap();
    assert_eq!(s.len(), 36, "{s}");
    assert_eq!(&s[14..15], "4", "{s}");
    for (i, c) in s.chars().enumerate() {
        if [8, 13, 18, 23].contains(&i) {
            assert_eq!(c, '-', "{s}");
        } else {
            assert!(c.is_ascii_hexdigit() && !c.is_ascii_uppercase(), "{s}");
        }
    }
}
