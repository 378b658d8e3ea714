//! The crash tests of evident-recorder, in a test binary of their own: they spawn writer
//! processes again and again, and a child holds a copy of every descriptor of this process
//! from fork until exec. In the shared `integration` binary, a child spawned at the wrong moment
//! held another test's run lock (a dropped store's flock) long enough for that test's
//! immediate `recover` to find the run busy.

#[path = "../integration/common.rs"]
mod common;
mod crash;
