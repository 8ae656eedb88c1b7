#![allow(dead_code)]

mod analyze;

fn main() {}
