//! Schedule-meeting's tests in one binary: the weather cards and forecasts (`weather`) against a
//! local stand-in for the KMA open API (`kma`).

mod kma;
mod weather;
