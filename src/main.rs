fn main() -> std::process::ExitCode {
    blindvault::cli::main()
}
