//! The command line: clap commands; the only code that prints.

pub fn main() -> i32 {
    0
}
