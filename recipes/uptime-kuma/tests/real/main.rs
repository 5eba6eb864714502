//! What only the real uptime-kuma recipe can show (`[unverified_here]` in recipe.toml): it
//! runs on a cc-ci host against the recipe's real releases, never on the offline testbed,
//! whose fixture runs one build (the npm dev snapshot) under two image tags.
//!
//! `CCCI_RECIPE_REPO=<recipe checkout> cargo test -p recipe-uptime-kuma --features real-recipe`

mod upgrade;
