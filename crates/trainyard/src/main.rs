fn main() {
    std::process::exit(trainyard_cli::main())
}
