//! The terminal timeline: connections as rows on a shared time axis, live during a run
//! (`connlab run --tui`) or replayed from any capture (`connlab tui <file>`).
//!
//! Capture, state and display are apart, as in bandwhich and oha: the model is pure state fed
//! with analyser events (`connlab_core::timeline`, shared with the HTML report), [`view`] draws
//! it into a ratatui buffer, [`input`] turns keys into intents, and [`app`] owns the terminal
//! and the loop.

pub mod app;
pub mod input;
pub mod replay;
pub mod view;
