//! Writes `examples/grpc_notes/notes.v1.rs` from `proto/notes.proto`.
//! Run at the repository root: `cargo run --manifest-path tools/protogen/Cargo.toml`.
//! `--check` fails if the checked-in file differs from what it would write.

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let check = std::env::args().any(|a| a == "--check");
    let descriptors = protox::compile(["proto/notes.proto"], ["proto"])?;
    let out = tempdir()?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .out_dir(&out)
        .compile_fds(descriptors)?;
    let generated = std::fs::read_to_string(out.join("notes.v1.rs"))?;
    let header = "// @generated from proto/notes.proto by tools/protogen (protox + tonic-prost-build).\n\
                  // Do not edit: run `cargo run --manifest-path tools/protogen/Cargo.toml`.\n";
    let text = format!("{header}{generated}");
    let target = Path::new("examples/grpc_notes/notes.v1.rs");
    if check {
        let current = std::fs::read_to_string(target).unwrap_or_default();
        if current != text {
            return Err(format!("{} is out of date: regenerate it", target.display()).into());
        }
        println!("{} is up to date", target.display());
    } else {
        std::fs::create_dir_all("examples/grpc_notes")?;
        std::fs::write(target, text)?;
        println!("wrote {}", target.display());
    }
    std::fs::remove_dir_all(&out)?;
    Ok(())
}

fn tempdir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("bearer-guard-protogen-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
