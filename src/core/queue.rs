//! A first-in, first-out queue over a `Vec`: the machine's actions and the step's inbox.
//!
//! Both fill during one call and are drained before it returns, so a queue here is a `Vec`
//! read from the front by a cursor and emptied once read to its end: no ring buffer, whose
//! wrap-around, growth and slicing code cost the wasm more than its two uses needed
//! (`VecDeque`, measured 2026-12-02 in the commit that brought this). The slots of taken items
//! are given back when the queue is read to its end, which every caller does before its call
//! returns (`Guard::poll_action` is drained by the run loop the machine's module doc shows).

use crate::prelude::*;

/// Items in the order they were pushed.
#[derive(Debug, Clone)]
pub struct Queue<T> {
    /// Every item pushed since the queue was last empty; those before `head` were taken.
    items: Vec<Option<T>>,
    /// The next item to take.
    head: usize,
}

impl<T> Default for Queue<T> {
    fn default() -> Queue<T> {
        Queue {
            items: Vec::new(),
            head: 0,
        }
    }
}

impl<T> Queue<T> {
    /// An empty queue.
    pub fn new() -> Queue<T> {
        Queue::default()
    }

    /// Adds `item` at the back.
    pub fn push_back(&mut self, item: T) {
        self.items.push(Some(item));
    }

    /// Takes the item at the front, if any.
    pub fn pop_front(&mut self) -> Option<T> {
        let item = self.items.get_mut(self.head).and_then(Option::take);
        if item.is_some() {
            self.head += 1;
        }
        if self.head == self.items.len() {
            // Read to its end: start again from the front, keeping the allocation.
            self.items.clear();
            self.head = 0;
        }
        item
    }

    /// How many items are waiting.
    pub fn len(&self) -> usize {
        self.items.len() - self.head
    }

    /// Whether no item is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    #[test]
    fn items_come_out_in_the_order_they_went_in() {
        let mut queue = Queue::new();
        assert_eq!(queue.pop_front(), None::<u8>);
        queue.push_back(1);
        queue.push_back(2);
        assert_eq!(queue.pop_front(), Some(1));
        queue.push_back(3);
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.pop_front(), Some(2));
        assert_eq!(queue.pop_front(), Some(3));
        assert!(queue.is_empty());
        assert_eq!(queue.pop_front(), None);
        // Emptied, it starts again from the front of its buffer.
        assert_eq!((queue.items.len(), queue.head), (0, 0));
    }

    proptest! {
        /// Any sequence of pushes and pops behaves as `VecDeque`'s `push_back`/`pop_front`.
        #[test]
        fn behaves_as_a_vec_deque(ops in proptest::collection::vec(proptest::option::of(any::<u16>()), 0..200)) {
            let mut queue = Queue::new();
            let mut model = VecDeque::new();
            for op in ops {
                match op {
                    Some(item) => {
                        queue.push_back(item);
                        model.push_back(item);
                    }
                    None => prop_assert_eq!(queue.pop_front(), model.pop_front()),
                }
                prop_assert_eq!(queue.len(), model.len());
            }
            while let Some(item) = model.pop_front() {
                prop_assert_eq!(queue.pop_front(), Some(item));
            }
            prop_assert_eq!(queue.pop_front(), None);
        }
    }
}
