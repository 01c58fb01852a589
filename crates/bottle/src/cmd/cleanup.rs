//! `bottle cleanup`: remove every labelled resource whose bottle is gone.

use super::launch::runtime;
use std::process::ExitCode;

/// Remove what dead bottles left behind.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Also remove sidecar images built by other versions of bottle.
    #[arg(long)]
    pub images: bool,
    /// Print what was removed as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (removed, kept, images) = runtime()?.block_on(async {
        let engine = bottle_docker::Engine::connect().await?;
        let (removed, kept) = bottle_docker::ops::cleanup(&engine).await?;
        let mut images = Vec::new();
        if args.images {
            let tag = bottle_docker::images::sidecar_tag();
            for img in bottle_docker::images::stale_sidecar_images(
                &engine,
                &tag,
                std::time::Duration::ZERO,
            )
            .await?
            {
                match bottle_docker::images::remove(&engine, &img).await {
                    Ok(_) => images.push(img),
                    Err(e) => eprintln!("warning: removing {img}: {e}"),
                }
            }
        }
        Ok::<_, anyhow::Error>((removed, kept, images))
    })?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "instances": removed.instances,
                "containers": removed.containers,
                "networks": removed.networks,
                "images": images,
                "kept": kept,
                "errors": removed.errors,
            }))?
        );
    } else {
        for e in &removed.errors {
            eprintln!("warning: {e}");
        }
        println!(
            "removed {} bottle(s): {} container(s), {} network(s){}",
            removed.instances.len(),
            removed.containers.len(),
            removed.networks.len(),
            if args.images {
                format!(", {} image(s)", images.len())
            } else {
                String::new()
            }
        );
        if !kept.is_empty() {
            println!("left running: {}", kept.join(", "));
        }
    }
    Ok(if removed.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
