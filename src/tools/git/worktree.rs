//! Runs on branches: placeholder filled in below.
