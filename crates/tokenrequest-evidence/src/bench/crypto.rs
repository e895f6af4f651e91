//! The floor of the issuer: raw signatures (and verifications) per second with aws-lc-rs, the server's library,
//! a key parsed once, one thread per core, in this process, so that the ratio's two sides run on the same cores
//! in the same run.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, UnparsedPublicKey};

/// The signing input of a TokenRequest token (base64url header and claims) is about this long.
const MESSAGE_LEN: usize = 700;

/// Which primitive to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Rs256Sign,
    Rs256Verify,
    Es256Sign,
}

impl Op {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Op::Rs256Sign => "RSA-2048 PKCS#1 v1.5 SHA-256 sign",
            Op::Rs256Verify => "RSA-2048 PKCS#1 v1.5 SHA-256 verify",
            Op::Es256Sign => "ECDSA P-256 SHA-256 sign",
        }
    }
}

/// Operations per second of `op` on `threads` threads for `measure` (after a short warm-up).
pub(crate) fn rate(op: Op, threads: usize, measure: Duration) -> Result<f64> {
    let msg = vec![b'e'; MESSAGE_LEN];
    let rng = SystemRandom::new();
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .map_err(|e| anyhow::anyhow!("generating RSA-2048: {e}"))?;
    let ec = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
        .map_err(|e| anyhow::anyhow!("generating P-256: {e}"))?;
    let mut rsa_sig = vec![0; rsa.public_modulus_len()];
    rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, &msg, &mut rsa_sig)
        .map_err(|e| anyhow::anyhow!("signing: {e}"))?;
    let rsa_public = UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, rsa.public_key().as_ref());

    // One operation; each thread calls it in a loop. Failures cannot happen with keys that just worked above.
    let once = |sig: &mut [u8]| -> bool {
        match op {
            Op::Rs256Sign => rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, &msg, sig).is_ok(),
            Op::Rs256Verify => rsa_public.verify(&msg, &rsa_sig).is_ok(),
            Op::Es256Sign => ec.sign(&rng, &msg).is_ok(),
        }
    };
    let warmup = Duration::from_millis(300);
    let barrier = Barrier::new(threads);
    let counts: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (barrier, once) = (&barrier, &once);
                s.spawn(move || {
                    let mut sig = vec![0u8; 256];
                    barrier.wait();
                    let start = Instant::now();
                    let (from, until) = (start + warmup, start + warmup + measure);
                    let mut n = 0u64;
                    loop {
                        let ok = once(&mut sig);
                        let now = Instant::now();
                        if now >= until || !ok {
                            break;
                        }
                        if now >= from {
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    let total: u64 = counts.iter().sum();
    let rate = total as f64 / measure.as_secs_f64();
    (rate > 0.0)
        .then_some(rate)
        .with_context(|| format!("{}: no operation succeeded", op.label()))
}
