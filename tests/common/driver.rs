//! The shell script that owns a test service process (Postgres, Redis): commands go to its
//! stdin one per line, and it answers each with one line on its stdout. Closing its stdin
//! (dropping the owner) makes the script stop the service and clean up.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// A running driver script.
pub struct Driver {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Driver {
    /// Spawns `command` (a `sh -c <script>` invocation) with piped stdin and stdout.
    pub fn spawn(mut command: Command) -> Driver {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the service driver starts");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("driver stdout"));
        Driver {
            child,
            stdin,
            stdout,
        }
    }

    /// Sends a command and returns the script's one-line answer.
    pub fn command(&mut self, command: &str) -> String {
        let stdin = self.stdin.as_mut().expect("driver open");
        writeln!(stdin, "{command}").expect("driver accepts a command");
        stdin.flush().expect("driver flush");
        self.answer()
    }

    /// Reads the script's next one-line answer.
    pub fn answer(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("driver answers");
        line.trim().to_string()
    }

    /// Closes the script's stdin (it stops the service and cleans up) and waits for it.
    pub fn finish(&mut self) {
        self.stdin.take();
        let _ = self.child.wait();
    }
}
