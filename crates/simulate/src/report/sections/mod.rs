//! Each report section turned into a [`Section`]: the numbers a platform lead looks for first
//! (facts), the charts that show them, and the tables behind them. One file per section; each
//! reads only its report struct (plus the model info), never recomputes a model.

mod capacity;
mod cost;
mod provisioning;
mod recovery;
mod scaling;

pub use capacity::capacity;
pub use cost::cost;
pub use provisioning::provisioning;
pub use recovery::recovery;
pub use scaling::scaling;
