//! Time per argon2id hash at the configured cost: `cargo bench -p identity --bench password`
//! (or `bench/password.sh`). `ARGON2_MEMORY_KIB`, `ARGON2_ITERATIONS` and `ARGON2_PARALLELISM` pick
//! the cost, as in the functions; `HASHES` the sample size (default 30).

use std::time::Instant;

use identity::hasher_from_env;
use shared::config::Env;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = Env::from_process();
    let hasher = hasher_from_env(&env)?;
    let samples: usize = env.parse_or("HASHES", 30)?;
    let cost = hasher.cost();
    // One warm-up hash: the first allocation of the memory block is the slowest.
    let hash = hasher.hash("warm-up password")?;
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        let matched = hasher.verify("warm-up password", &hash);
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        if !matched {
            return Err("the hash did not verify".into());
        }
    }
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "argon2id m={} KiB t={} p={}: {} hashes, median {:.1} ms, p90 {:.1} ms, min {:.1} ms, max {:.1} ms",
        cost.memory_kib,
        cost.iterations,
        cost.parallelism,
        samples,
        pick(0.5),
        pick(0.9),
        times[0],
        times[times.len() - 1],
    );
    Ok(())
}
