//! Outpost: offline-first clinic records.
//!
//! The library holds everything but the window itself, so the desktop binary, the command-line
//! tools, the tests and the benchmarks all run the same code. See ARCHITECTURE.md for the map.

pub mod app;
pub mod demo;
pub mod documents;
pub mod fhir;
pub mod fonts;
pub mod i18n;
pub mod imaging;
pub mod keys;
pub mod model;
pub mod reports;
pub mod research;
pub mod server;
pub mod store;
pub mod sync;
#[cfg(feature = "gui")]
pub mod ui;
