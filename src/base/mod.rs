//! The ground floor: what every layer may use and that knows nothing of disbursement — the one
//! clock, text from outside made safe, the private files disbmon writes, secrets that never
//! print, and the words enums are written as.

pub mod clock;
pub mod files;
pub mod names;
pub mod secret;
pub mod text;
