//! Upgrade: not testable here. The fixture has one release: LiveKit 1.13.5 is the only LiveKit
//! release the Go module proxy builds (later ones depend on forks it refuses), and meet's
//! backend, whose database migrations an upgrade exercises, does not run here. The upgrade
//! test of the real recipe (previous release -> head, a room made through meet's API kept) is
//! `upgrade::an_upgrade_from_the_previous_release_keeps_rooms_and_moves_to_the_head` in the
//! `real` binary (tests/real/upgrade.rs).
