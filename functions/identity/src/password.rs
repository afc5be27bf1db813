//! Password hashing with argon2id.
//!
//! Hashes are PHC strings (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`), so each carries the parameters it
//! was made with: raising them later keeps old hashes verifiable. The defaults follow OWASP's
//! recommended argon2id floor (19 MiB, 2 passes, 1 lane), which fits a 1024 MB Lambda with room to
//! spare; `bench/password.sh` prints the time per hash at any parameters.

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
    password_hash::{SaltString, rand_core::OsRng},
};

/// Cost parameters of argon2id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Memory per hash, in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism (lanes).
    pub parallelism: u32,
}

impl Default for Cost {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Cost parameters argon2 refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid argon2 parameters: {0}")]
pub struct InvalidCost(String);

/// Hashing failed (it only can for resource reasons; a wrong password is not an error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes and verifies passwords at a fixed cost.
#[derive(Debug, Clone)]
pub struct Hasher {
    argon2: Argon2<'static>,
    cost: Cost,
}

impl Hasher {
    /// A hasher at `cost`.
    ///
    /// # Errors
    /// [`InvalidCost`] when argon2 rejects the parameters (e.g. memory below 8 KiB per lane).
    pub fn new(cost: Cost) -> Result<Self, InvalidCost> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| InvalidCost(e.to_string()))?;
        Ok(Self {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            cost,
        })
    }

    /// The cost new hashes are made at.
    #[must_use]
    pub fn cost(&self) -> Cost {
        self.cost
    }

    /// Hashes `password` with a fresh random salt into a PHC string.
    ///
    /// # Errors
    /// [`HashError`] if argon2 fails (memory allocation).
    pub fn hash(&self, password: &str) -> Result<String, HashError> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| HashError(e.to_string()))
    }

    /// Whether `password` matches the PHC string `hash`. A malformed hash never matches.
    #[must_use]
    pub fn verify(&self, password: &str, hash: &str) -> bool {
        PasswordHash::new(hash).is_ok_and(|parsed| {
            self.argon2
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    }

    /// Whether `hash` was made at a cost other than the current one (or is unreadable), so a login
    /// that just verified it should store a fresh hash. Keeps every account's verification at the
    /// same cost, which the equal timing of unknown emails relies on.
    #[must_use]
    pub fn needs_rehash(&self, hash: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else {
            return true;
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return true;
        };
        parsed.algorithm != Algorithm::Argon2id.ident()
            || params.m_cost() != self.cost.memory_kib
            || params.t_cost() != self.cost.iterations
            || params.p_cost() != self.cost.parallelism
    }

    /// Spends the time a [`Hasher::verify`] would, for a login whose email has no account, so the
    /// answer's timing does not reveal which emails exist.
    pub fn waste_a_verification(&self, password: &str) {
        // A hash at the current cost is exactly the work of verifying against one.
        let _ = self.hash(password);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Hasher {
        Hasher::new(Cost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
    }

    #[test]
    fn a_hash_verifies_its_password_and_no_other() {
        let hasher = cheap();
        let hash = hasher.hash("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        assert!(hasher.verify("correct horse battery", &hash));
        assert!(!hasher.verify("correct horse batterz", &hash));
        assert_ne!(hash, hasher.hash("correct horse battery").unwrap());
    }

    #[test]
    fn hashes_made_at_another_cost_still_verify() {
        let old = cheap().hash("long enough password").unwrap();
        let stronger = Hasher::new(Cost {
            memory_kib: 128,
            iterations: 2,
            parallelism: 1,
        })
        .unwrap();
        assert!(stronger.verify("long enough password", &old));
    }

    #[test]
    fn only_hashes_at_another_cost_need_a_rehash() {
        let hasher = cheap();
        assert!(!hasher.needs_rehash(&hasher.hash("long enough password").unwrap()));
        let stronger = Hasher::new(Cost {
            memory_kib: 128,
            iterations: 2,
            parallelism: 1,
        })
        .unwrap();
        assert!(stronger.needs_rehash(&hasher.hash("long enough password").unwrap()));
        assert!(hasher.needs_rehash("not a phc string"));
    }

    #[test]
    fn malformed_hashes_never_match() {
        assert!(!cheap().verify("anything at all", "not a phc string"));
        assert!(!cheap().verify("anything at all", ""));
    }

    #[test]
    fn the_default_cost_is_owasps_argon2id_floor() {
        let hasher = Hasher::new(Cost::default()).unwrap();
        assert_eq!(
            hasher.cost(),
            Cost {
                memory_kib: 19456,
                iterations: 2,
                parallelism: 1
            }
        );
        assert!(
            Hasher::new(Cost {
                memory_kib: 1,
                iterations: 1,
                parallelism: 1
            })
            .is_err()
        );
    }
}
