/// mimalloc keeps freed memory for reuse where glibc's allocator hands large
/// blocks back to the system at once: inference and rendering allocate and
/// free tens of megabytes per window and per frame, and faulting those pages
/// in again took a third of the motion model's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gspeech::cli::main()
}
