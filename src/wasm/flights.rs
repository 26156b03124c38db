//! The calls in flight, per order: what lets the package's JS layer answer a double click
//! without crossing into wasm, while the driver alone decides when a flight starts and ends.
//!
//! The first accepted `pay(order)` for an order starts its flight: the order object, its content
//! object and the call's promise, in a JS `Map` (`orderNo → [order, content, promise]`) that
//! `pkg/shell.js` reads. The flight ends when the order's outcome is emitted (before the
//! listeners run, so one that pays again from inside the event reaches the core), when its call
//! settles (a refusal emits no outcome), when the order is forgotten, or when the guard is
//! freed. Browsers only: the mini-program's page helper ignores taps while a payment runs, and
//! its build has no such JS layer, so there this is a no-op.

use crate::core::ids::OrderNo;
use crate::core::machine::CallerId;
use wasm_bindgen::JsValue;

#[cfg(feature = "browser")]
use super::table::Table;
#[cfg(feature = "browser")]
use std::cell::RefCell;

/// The flights of one guard.
#[cfg(feature = "browser")]
pub struct Flights {
    map: js_sys::Map,
    /// Which call each flight is, to end it when that call settles.
    callers: RefCell<Table<OrderNo, u64>>,
}

#[cfg(feature = "browser")]
impl Default for Flights {
    fn default() -> Flights {
        Flights {
            map: js_sys::Map::new(),
            callers: RefCell::new(Table::new()),
        }
    }
}

#[cfg(feature = "browser")]
impl Flights {
    /// The JS `Map` the package's JS layer reads.
    pub fn map(&self) -> js_sys::Map {
        self.map.clone()
    }

    /// Starts the flight of `order_no` with call `caller`, unless one runs (later calls join
    /// it, or are refused as `busy`, and leave it as it is).
    pub fn start(&self, order_no: &OrderNo, caller: u64, [order, content, promise]: [&JsValue; 3]) {
        let mut callers = self.callers.borrow_mut();
        if callers.contains_key(order_no) {
            return;
        }
        callers.insert(order_no.clone(), caller);
        let flight = js_sys::Array::of3(order, content, promise);
        self.map.set(&JsValue::from_str(order_no.as_str()), &flight);
    }

    /// Ends the flight of `order_no`, if there is one.
    pub fn end(&self, order_no: &OrderNo) {
        if self.callers.borrow_mut().remove(order_no).is_some() {
            self.map.delete(&JsValue::from_str(order_no.as_str()));
        }
    }

    /// Ends the flights of the settled `callers`.
    pub fn end_callers(&self, settled: &[CallerId]) {
        let ended: Vec<OrderNo> = self
            .callers
            .borrow()
            .iter()
            .filter(|(_, caller)| settled.iter().any(|c| c.0 == **caller))
            .map(|(order_no, _)| order_no.clone())
            .collect();
        for order_no in &ended {
            self.end(order_no);
        }
    }

    /// Ends every flight.
    pub fn clear(&self) {
        self.callers.borrow_mut().clear();
        self.map.clear();
    }
}

/// No flights where no JS layer reads them (the mini-program build).
#[cfg(not(feature = "browser"))]
#[derive(Default)]
pub struct Flights(());

#[cfg(not(feature = "browser"))]
impl Flights {
    pub fn start(&self, _order_no: &OrderNo, _caller: u64, _parts: [&JsValue; 3]) {}

    pub fn end(&self, _order_no: &OrderNo) {}

    pub fn end_callers(&self, _settled: &[CallerId]) {}

    pub fn clear(&self) {}
}
