//! The `nacz` binary: a thin layer over the library; the command line lives in `cli`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
