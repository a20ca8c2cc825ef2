//! The terminal while `top` runs: raw mode, the alternate screen and a
//! hidden cursor, put back on every way out: [`Screen::leave`], the drop
//! of [`Screen`] (an error returned through `?`), and a panic (the hook
//! restores before the panic message prints). [`Signals`]: SIGTERM,
//! SIGHUP and SIGINT set a flag the loop checks, so they end it through
//! the same path; SIGWINCH sets another, for a redraw at the new size.

use std::io::{self, Stdout};
use std::sync::Arc;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Context, Result};
use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGWINCH};

/// The terminal in dashboard mode (see the module docs).
pub struct Screen {
    /// `None` once left.
    terminal: Option<Terminal<CrosstermBackend<Stdout>>>,
}

/// Puts the terminal back: normal screen, cursor shown, cooked mode.
/// Harmless when it already is.
fn restore() -> io::Result<()> {
    let screen = execute!(io::stdout(), LeaveAlternateScreen, Show);
    let raw = disable_raw_mode();
    screen.and(raw)
}

static PANIC_HOOK: Once = Once::new();

impl Screen {
    /// Enters raw mode and the alternate screen, hides the cursor.
    pub fn enter() -> Result<Screen> {
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let _ = restore();
                previous(info);
            }));
        });
        enable_raw_mode().context("could not put the terminal in raw mode")?;
        // From here on, dropping the screen restores the terminal.
        let mut screen = Screen { terminal: None };
        execute!(io::stdout(), EnterAlternateScreen, Hide)
            .context("could not enter the alternate screen")?;
        let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))
            .context("could not size the terminal")?;
        screen.terminal = Some(terminal);
        Ok(screen)
    }

    /// Draws one frame (sized to the terminal now).
    pub fn draw(&mut self, f: impl FnOnce(&mut ratatui::Frame<'_>)) -> Result<()> {
        if let Some(t) = &mut self.terminal {
            t.draw(f).context("could not draw on the terminal")?;
        }
        Ok(())
    }

    /// Restores the terminal, saying if it could not.
    pub fn leave(mut self) -> Result<()> {
        self.terminal = None;
        restore().context("could not restore the terminal")
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        if self.terminal.take().is_some() {
            let _ = restore();
        }
    }
}

/// The signals that end `top`, as flags (see the module docs).
pub struct Signals {
    /// The last of SIGTERM, SIGHUP, SIGINT received; 0: none.
    got: Arc<AtomicUsize>,
    /// Set by SIGWINCH, taken by [`Signals::resized`].
    resized: Arc<AtomicBool>,
}

impl Signals {
    /// Registers the flags (the default actions no longer apply).
    pub fn register() -> Result<Signals> {
        let got = Arc::new(AtomicUsize::new(0));
        for sig in [SIGTERM, SIGHUP, SIGINT] {
            signal_hook::flag::register_usize(sig, Arc::clone(&got), sig as usize)
                .with_context(|| format!("could not handle signal {sig}"))?;
        }
        let resized = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(SIGWINCH, Arc::clone(&resized))
            .context("could not handle SIGWINCH")?;
        Ok(Signals { got, resized })
    }

    /// Whether the terminal was resized since the last call.
    pub fn resized(&self) -> bool {
        self.resized.swap(false, Ordering::Relaxed)
    }

    /// The signal received, if any.
    pub fn received(&self) -> Option<u8> {
        match self.got.load(Ordering::Relaxed) {
            0 => None,
            s => Some(u8::try_from(s).unwrap_or(u8::MAX)),
        }
    }
}
