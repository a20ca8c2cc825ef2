//! The keys `top` reads, from its terminal, by itself (decision 185).
//!
//! crossterm's event reader loops for ever, at full speed, on a terminal
//! that has hung up (its window closed, its tmux server killed without a
//! SIGHUP): such a terminal reads as end of file, which that reader
//! retries instead of reporting, and no signal reaches the loop again.
//! So the loop waits on stdin with `poll(2)` itself, reads what is there,
//! and treats end of file, an error or a hang-up as the end of `top`.
//! Resizes come as SIGWINCH ([`super::screen::Signals::resized`]), which
//! also cuts the wait short.

use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;

/// What the terminal gave while the loop waited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Nothing came (the wait ran out, or a signal cut it short).
    Nothing,
    /// `q`, `Q` or a lone Esc.
    Quit,
    /// Ctrl-C (raw mode hands it over as a byte, not as SIGINT).
    Interrupt,
    /// Other keys: ignored.
    Other,
    /// The terminal is gone: end of file, an error, or a hang-up.
    HungUp,
}

/// Waits up to `timeout` for input on stdin and reads what is there.
pub fn wait(timeout: Duration) -> io::Result<Input> {
    let stdin = io::stdin();
    let fd = stdin.as_fd();
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let ts = Timespec {
        tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    match poll(&mut fds, Some(&ts)) {
        Ok(0) | Err(Errno::INTR) => return Ok(Input::Nothing),
        Ok(_) => {}
        Err(e) => return Err(e.into()),
    }
    // An error, a closed descriptor, or a hang-up with nothing to read.
    let got = fds[0].revents();
    if got.intersects(PollFlags::ERR | PollFlags::NVAL) || !got.contains(PollFlags::IN) {
        return Ok(Input::HungUp);
    }
    let mut buf = [0u8; 256];
    match rustix::io::read(fd, &mut buf) {
        Ok(0) | Err(Errno::IO) => Ok(Input::HungUp),
        Ok(n) => Ok(classify(&buf[..n])),
        Err(Errno::INTR | Errno::AGAIN) => Ok(Input::Nothing),
        Err(e) => Err(e.into()),
    }
}

/// What one read of key bytes asks for. Ctrl-C wins over `q`; an escape
/// sequence (an arrow key, `ESC [ A`) is not a lone Esc.
pub fn classify(bytes: &[u8]) -> Input {
    if bytes.contains(&0x03) {
        Input::Interrupt
    } else if bytes == [0x1b] || bytes.iter().any(|b| matches!(b, b'q' | b'Q')) {
        Input::Quit
    } else if bytes.is_empty() {
        Input::Nothing
    } else {
        Input::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_told_apart() {
        let check = |b: &[u8], want: Input| assert_eq!(classify(b), want, "{b:?}");
        check(b"q", Input::Quit);
        check(b"Q", Input::Quit);
        check(b"xq", Input::Quit);
        check(&[0x1b], Input::Quit);
        check(b"\x1b[A", Input::Other);
        check(&[0x03], Input::Interrupt);
        check(b"q\x03", Input::Interrupt);
        check(b"a", Input::Other);
        check("é".as_bytes(), Input::Other);
        check(b"", Input::Nothing);
    }
}
