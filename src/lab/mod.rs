//! Labs: the file format, the embedded catalogue, expectations, and the runner that builds the
//! network, starts the wire, the recorder and the actors, and tears it all down.

pub mod catalog;
pub mod choices;
pub mod expect;
pub mod file;
pub mod keys;
pub mod launch;
pub mod locate;
pub mod overrides;
pub mod ranges;
pub mod report;
pub mod runner;
pub mod scale;
pub mod spec;
pub mod validate;
pub mod waiting;
