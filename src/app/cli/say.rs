//! Output for a person's terminal: whatever the data holds (a name with an ANSI or OSC escape, a
//! server's answer) is shown escaped, never run by the terminal. `--json` output is JSON, which
//! escapes control characters itself.

macro_rules! say {
    ($($t:tt)*) => { print!("{}", $crate::base::text::for_terminal(&format!($($t)*))) };
}
macro_rules! sayln {
    ($($t:tt)*) => { println!("{}", $crate::base::text::for_terminal(&format!($($t)*))) };
}
macro_rules! esayln {
    ($($t:tt)*) => { eprintln!("{}", $crate::base::text::for_terminal(&format!($($t)*))) };
}
