fn main() -> std::process::ExitCode {
    gspeech::cli::main()
}
