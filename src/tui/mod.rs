//! The terminal timeline: connections as rows on a shared time axis, live during a run
//! (`connlab run --tui`) or replayed from any capture (`connlab tui <file>`).
//!
//! Capture, state and display are apart, as in bandwhich and oha: [`model`] is pure state fed
//! with analyser events (no terminal, no clock), [`view`] draws a model into a ratatui buffer,
//! [`input`] turns keys into intents, and [`app`] owns the terminal and the loop.

pub mod app;
pub mod input;
pub mod model;
pub mod replay;
pub mod view;
