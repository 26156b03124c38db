//! The wasm's allocator: blocks in power-of-two size classes, over memory the module grows.
//!
//! Written here for the wasm's size (issue 13): the talc crate it replaces was 2.5 KB raw,
//! 1.2 KB brotli of a 32 KB module; this is a few hundred bytes. It is the simplest allocator
//! that stays O(1) and cannot fragment in a way that grows without bound for this module's use
//! (a guard's JSON texts and records, the same few sizes again and again):
//!
//! - a request of `size` bytes and `align` alignment takes a block of the class
//!   `max(size, align, 16)` rounded up to a power of two, aligned to its own size up to a page
//!   (64 KiB) and to a page above (so any alignment up to the size holds; one above a page is
//!   refused, as no Rust type asks for one);
//! - a freed block goes to the front of its class's list and is the next one handed out for
//!   that class; blocks are never split or merged, so a class's memory is at most its peak use;
//! - new blocks are cut from the end of the memory grown so far; the room skipped to align a
//!   block is not lost but cut into the aligned power-of-two blocks it holds, each put on its
//!   class's list;
//! - memory is grown (`memory.grow`, 64 KiB pages) only when the end is reached, and never
//!   given back, as every wasm allocator does.
//!
//! The logic ([`Heap`]) is generic over where memory comes from, so that native tests drive it
//! over an arena with random sequences of allocations, frees and reallocations and check every
//! block is aligned, inside the memory, apart from every other live block, and keeps its bytes.

use core::alloc::Layout;
use core::ptr::null_mut;

/// A wasm page: the unit `memory.grow` counts in.
pub const PAGE: usize = 65_536;

/// The smallest block: room for the free list's link, and alignment for any scalar.
const MIN_CLASS: u32 = 4;

/// Where a [`Heap`] gets memory.
pub trait Memory {
    /// Adds `pages` pages; the address of the first, or `None` when there is no more memory.
    fn grow(&mut self, pages: usize) -> Option<usize>;
}

/// The allocator's state: one free list per size class and the end of the memory used so far.
pub struct Heap<M> {
    /// The first free block of each class (`1 << class` bytes), 0 for none; each free block
    /// holds the address of the next in its first word.
    free: [usize; usize::BITS as usize],
    /// Where the next new block is cut from.
    next: usize,
    /// The end of the memory grown so far.
    end: usize,
    memory: M,
}

impl<M: Memory> Heap<M> {
    /// An empty heap over `memory`.
    pub const fn new(memory: M) -> Heap<M> {
        Heap {
            free: [0; usize::BITS as usize],
            next: 0,
            end: 0,
            memory,
        }
    }

    /// A block for `layout`, or null when memory is exhausted or the layout is too large.
    ///
    /// # Safety
    ///
    /// The memory [`Memory::grow`] hands out must be this heap's alone, readable and writable.
    pub unsafe fn alloc(&mut self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            return null_mut();
        };
        let head = self.free[class as usize];
        if head != 0 {
            // SAFETY: a block on a free list is this heap's, at least 16 bytes and aligned to
            // them; its first word is the link `free` wrote.
            self.free[class as usize] = unsafe { *(head as *const usize) };
            return head as *mut u8;
        }
        let size = 1usize << class;
        // Memory grows in pages, so a block larger than one need not be aligned beyond it.
        let align = size.min(PAGE);
        loop {
            // The room up to the next multiple of `align`, cut into aligned blocks: each is the
            // largest power of two that `next` is a multiple of.
            while self.next & (align - 1) != 0 && self.next < self.end {
                let piece = self.next & self.next.wrapping_neg();
                if self.end - self.next < piece {
                    break;
                }
                // SAFETY: `next..next + piece` is grown memory no block uses.
                unsafe { self.push(self.next, piece.trailing_zeros()) };
                self.next += piece;
            }
            if self.next & (align - 1) == 0 && self.end - self.next >= size {
                let block = self.next;
                self.next += size;
                return block as *mut u8;
            }
            if !self.extend(size) {
                return null_mut();
            }
        }
    }

    /// Gives `ptr`, allocated for `layout`, back to its class.
    ///
    /// # Safety
    ///
    /// `ptr` came from [`Heap::alloc`] of this heap with `layout`, and is not used any more.
    pub unsafe fn free(&mut self, ptr: *mut u8, layout: Layout) {
        if let Some(class) = class_of(layout) {
            // SAFETY: the caller's promise: the block is this heap's and free now.
            unsafe { self.push(ptr as usize, class) };
        }
    }

    /// `ptr` itself when `new_size` needs the same class (a `String` growing within its
    /// block), else `None`: the caller then allocates, copies and frees.
    pub fn resize_in_place(
        &self,
        ptr: *mut u8,
        layout: Layout,
        new_size: usize,
    ) -> Option<*mut u8> {
        let new = Layout::from_size_align(new_size, layout.align()).ok()?;
        (class_of(new)? == class_of(layout)?).then_some(ptr)
    }

    /// Puts the block at `at` on the list of `class`.
    ///
    /// # Safety
    ///
    /// `at..at + (1 << class)` is this heap's memory, aligned to its size (to a page when it is
    /// larger), used by no block.
    unsafe fn push(&mut self, at: usize, class: u32) {
        // SAFETY: the block is at least 16 bytes, aligned, and this heap's.
        unsafe { *(at as *mut usize) = self.free[class as usize] };
        self.free[class as usize] = at;
    }

    /// Grows the memory so that a block of `size` fits after `next`; `false` when it cannot.
    fn extend(&mut self, size: usize) -> bool {
        // `size` more bytes, in whole pages: the end is a multiple of a page, so a block aligned
        // to at most a page starts at or before it and fits in one growth.
        let Some(pages) = size.checked_add(PAGE - 1).map(|bytes| bytes / PAGE) else {
            return false;
        };
        let Some(start) = self.memory.grow(pages.max(1)) else {
            return false;
        };
        // The last page of a 4 GiB memory would end at 2^32: not addressable, so not used.
        // Checked before anything changes, so that a refusal leaves `next <= end`.
        let Some(end) = (pages.max(1) * PAGE).checked_add(start) else {
            return false;
        };
        if start != self.end {
            // Not contiguous (the first growth, or memory grown by someone else): what is
            // left of the old end goes to the lists, and new blocks come from the new memory.
            while self.next < self.end {
                let piece = (self.next & self.next.wrapping_neg())
                    .min(prev_power_of_two(self.end - self.next));
                // SAFETY: `next..next + piece` is grown memory no block uses.
                unsafe { self.push(self.next, piece.trailing_zeros()) };
                self.next += piece;
            }
            self.next = start;
        }
        self.end = end;
        true
    }
}

/// The class (log2 of the block size) for `layout`; `None` when the block would not fit the
/// address space or the alignment is above a page.
fn class_of(layout: Layout) -> Option<u32> {
    if layout.align() > PAGE {
        return None;
    }
    let bytes = layout.size().max(layout.align()).max(1 << MIN_CLASS);
    Some(bytes.checked_next_power_of_two()?.trailing_zeros())
}

/// The largest power of two at most `n` (`n` > 0).
fn prev_power_of_two(n: usize) -> usize {
    1 << (usize::BITS - 1 - n.leading_zeros())
}

/// The wasm module's own memory, grown with `memory.grow`.
#[cfg(target_arch = "wasm32")]
pub struct WasmMemory;

#[cfg(target_arch = "wasm32")]
impl Memory for WasmMemory {
    fn grow(&mut self, pages: usize) -> Option<usize> {
        let old = core::arch::wasm32::memory_grow(0, pages);
        (old != usize::MAX).then(|| old * PAGE)
    }
}

/// The [`Heap`] as the wasm's global allocator.
#[cfg(target_arch = "wasm32")]
pub struct Global(core::cell::UnsafeCell<Heap<WasmMemory>>);

// The wasm is built without threads (no `atomics` target feature, checked below): one thread
// ever touches the heap.
#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
compile_error!("the wasm's allocator (src/heap.rs) is single-threaded");

#[cfg(target_arch = "wasm32")]
// SAFETY: single-threaded (above), and a call into the allocator never re-enters it.
unsafe impl Sync for Global {}

#[cfg(target_arch = "wasm32")]
impl Default for Global {
    fn default() -> Global {
        Global::new()
    }
}

#[cfg(target_arch = "wasm32")]
impl Global {
    /// The allocator, before any memory is grown.
    pub const fn new() -> Global {
        Global(core::cell::UnsafeCell::new(Heap::new(WasmMemory)))
    }
}

#[cfg(target_arch = "wasm32")]
// SAFETY: `Heap` hands out blocks of at least the layout's size and alignment, each used by one
// allocation until it is freed; the `UnsafeCell` is only reached from one thread, never
// re-entered.
unsafe impl core::alloc::GlobalAlloc for Global {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl; memory from `memory.grow` is the heap's alone.
        unsafe { (*self.0.get()).alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's promise of `GlobalAlloc::dealloc`.
        unsafe { (*self.0.get()).free(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above; a block that fits stays where it is.
        let heap = unsafe { &mut *self.0.get() };
        if let Some(same) = heap.resize_in_place(ptr, layout, new_size) {
            return same;
        }
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return null_mut();
        };
        // SAFETY: a fresh block, then the caller's promises for `ptr`.
        unsafe {
            let new = heap.alloc(new_layout);
            if !new.is_null() {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                heap.free(ptr, layout);
            }
            new
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Pages of one aligned allocation of the test process, handed out in order.
    struct Arena {
        base: *mut u8,
        pages: usize,
        used: usize,
    }

    impl Arena {
        fn new(pages: usize) -> Arena {
            let layout = Layout::from_size_align(pages * PAGE, PAGE).expect("layout");
            // SAFETY: a non-zero size.
            let base = unsafe { std::alloc::alloc_zeroed(layout) };
            assert!(!base.is_null());
            Arena {
                base,
                pages,
                used: 0,
            }
        }

        fn range(&self) -> core::ops::Range<usize> {
            self.base as usize..self.base as usize + self.pages * PAGE
        }
    }

    impl Drop for Arena {
        fn drop(&mut self) {
            let layout = Layout::from_size_align(self.pages * PAGE, PAGE).expect("layout");
            // SAFETY: allocated in `new` with this layout.
            unsafe { std::alloc::dealloc(self.base, layout) };
        }
    }

    impl Memory for Arena {
        fn grow(&mut self, pages: usize) -> Option<usize> {
            if self.used + pages > self.pages {
                return None;
            }
            let start = self.base as usize + self.used * PAGE;
            self.used += pages;
            Some(start)
        }
    }

    #[test]
    fn classes_are_powers_of_two_of_at_least_sixteen_bytes() {
        let class = |size, align| class_of(Layout::from_size_align(size, align).expect("layout"));
        assert_eq!(class(1, 1), Some(4));
        assert_eq!(class(16, 1), Some(4));
        assert_eq!(class(17, 1), Some(5));
        assert_eq!(class(8, 64), Some(6));
        assert_eq!(class(PAGE + 1, 8), Some(17));
        assert_eq!(class(16, 2 * PAGE), None, "alignment above a page");
    }

    #[test]
    fn a_freed_block_is_the_next_of_its_class_and_the_gaps_are_used() {
        let mut heap = Heap::new(Arena::new(4));
        let small = Layout::from_size_align(16, 8).expect("layout");
        let large = Layout::from_size_align(4096, 8).expect("layout");
        // SAFETY: the arena is the heap's; every block is freed with its layout.
        unsafe {
            let a = heap.alloc(small);
            let b = heap.alloc(large);
            assert_eq!(b as usize % 4096, 0, "aligned to its size");
            // The room between `a` and `b` went to the lists: the next small block is in it.
            let c = heap.alloc(small);
            assert!((c as usize) < b as usize && c != a);
            heap.free(c, small);
            assert_eq!(heap.alloc(small), c, "the freed block is handed out again");
            heap.free(b, large);
            assert_eq!(heap.alloc(large), b);
        }
    }

    #[test]
    fn blocks_above_a_page_are_page_aligned_and_one_growth_each() {
        // Two 256 KiB blocks (for 2 pages and 5 bytes each) and a small one fit in 9 pages,
        // wherever the arena's pages fall relative to 256 KiB.
        let mut heap = Heap::new(Arena::new(9));
        let big = Layout::from_size_align(2 * PAGE + 5, 8).expect("layout");
        // SAFETY: as above.
        unsafe {
            let small = heap.alloc(Layout::from_size_align(40, 8).expect("layout"));
            let a = heap.alloc(big);
            let b = heap.alloc(big);
            assert!(!small.is_null() && !a.is_null() && !b.is_null());
            assert_eq!(a as usize % PAGE, 0);
            assert_eq!(b as usize % PAGE, 0);
            assert_eq!(
                b as usize - a as usize,
                4 * PAGE,
                "no room skipped between them"
            );
        }
    }

    #[test]
    fn exhausted_memory_is_null_and_the_heap_still_works() {
        let mut heap = Heap::new(Arena::new(2));
        let big = Layout::from_size_align(3 * PAGE, 8).expect("layout");
        let small = Layout::from_size_align(100, 8).expect("layout");
        // SAFETY: as above.
        unsafe {
            assert!(heap.alloc(big).is_null());
            let a = heap.alloc(small);
            assert!(!a.is_null());
            heap.free(a, small);
        }
    }

    #[test]
    fn a_growth_ending_past_the_address_space_is_refused_and_changes_nothing() {
        /// The arena's first page, then pages that would end at 2^64 (as a full 4 GiB memory
        /// ends at 2^32 in the wasm), then the arena again.
        struct Edge(Arena, u32);
        impl Memory for Edge {
            fn grow(&mut self, pages: usize) -> Option<usize> {
                self.1 += 1;
                if self.1 == 2 {
                    return Some(usize::MAX - pages * PAGE + 1);
                }
                self.0.grow(pages)
            }
        }
        let arena = Arena::new(4);
        let range = arena.range();
        let mut heap = Heap::new(Edge(arena, 0));
        let small = Layout::from_size_align(1000, 8).expect("layout");
        // SAFETY: as above; the refused growth's addresses are never used.
        unsafe {
            let a = heap.alloc(small);
            assert!(range.contains(&(a as usize)));
            assert!(heap
                .alloc(Layout::from_size_align(PAGE, 8).expect("layout"))
                .is_null());
            for _ in 0..8 {
                let p = heap.alloc(small);
                assert!(range.contains(&(p as usize)), "{p:?} outside the memory");
                core::ptr::write_bytes(p, 1, small.size());
            }
        }
    }

    #[test]
    fn growth_beyond_one_page_and_not_contiguous() {
        /// Pages handed out with a hole between growths, as if another party grew memory.
        struct Holes(Arena);
        impl Memory for Holes {
            fn grow(&mut self, pages: usize) -> Option<usize> {
                self.0.grow(1)?;
                self.0.grow(pages)
            }
        }
        let mut heap = Heap::new(Holes(Arena::new(16)));
        let layouts = [(100, 8), (2 * PAGE + 5, 8), (30, 4), (PAGE, 16)];
        let mut blocks = Vec::new();
        // SAFETY: as above; the blocks are written only within their layouts.
        unsafe {
            for (size, align) in layouts {
                let layout = Layout::from_size_align(size, align).expect("layout");
                let p = heap.alloc(layout);
                assert!(!p.is_null(), "{size}");
                core::ptr::write_bytes(p, 0xab, size);
                blocks.push((p as usize, size));
            }
        }
        blocks.sort_unstable();
        for pair in blocks.windows(2) {
            assert!(pair[0].0 + pair[0].1 <= pair[1].0, "{pair:?} overlap");
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Alloc { size: usize, align_log: u32 },
        Free(usize),
        Realloc(usize, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (1usize..5000, 0u32..7).prop_map(|(size, align_log)| Op::Alloc { size, align_log }),
            1 => (1usize..5000, 0u32..7).prop_map(|(size, align_log)| Op::Alloc { size: size * 40, align_log }),
            2 => any::<usize>().prop_map(Op::Free),
            2 => (any::<usize>(), 1usize..9000).prop_map(|(i, n)| Op::Realloc(i, n)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn live_blocks_are_aligned_apart_inside_and_keep_their_bytes(ops in proptest::collection::vec(op(), 1..300)) {
            // 32 MiB: several times what the mix of operations holds live (one in eight is a
            // block of up to 256 KiB, one in four a free), so a null is a bug, not exhaustion.
            let arena = Arena::new(512);
            let range = arena.range();
            let mut heap = Heap::new(arena);
            // (address, layout, the byte it is filled with)
            let mut live: Vec<(usize, Layout, u8)> = Vec::new();
            for (n, op) in ops.into_iter().enumerate() {
                let fill = (n % 251) as u8;
                // SAFETY: every block is used within its layout and freed once, with it.
                unsafe {
                    match op {
                        Op::Alloc { size, align_log } => {
                            let layout = Layout::from_size_align(size, 1 << align_log).expect("layout");
                            let p = heap.alloc(layout);
                            prop_assert!(!p.is_null());
                            core::ptr::write_bytes(p, fill, size);
                            live.push((p as usize, layout, fill));
                        }
                        Op::Free(i) if !live.is_empty() => {
                            let (p, layout, fill) = live.swap_remove(i % live.len());
                            let bytes = core::slice::from_raw_parts(p as *const u8, layout.size());
                            prop_assert!(bytes.iter().all(|b| *b == fill), "a block kept its bytes");
                            heap.free(p as *mut u8, layout);
                        }
                        Op::Realloc(i, new_size) if !live.is_empty() => {
                            let at = i % live.len();
                            let (p, layout, old_fill) = live[at];
                            let new = match heap.resize_in_place(p as *mut u8, layout, new_size) {
                                Some(same) => same,
                                None => {
                                    let new_layout = Layout::from_size_align(new_size, layout.align()).expect("layout");
                                    let new = heap.alloc(new_layout);
                                    prop_assert!(!new.is_null());
                                    core::ptr::copy_nonoverlapping(p as *const u8, new, layout.size().min(new_size));
                                    heap.free(p as *mut u8, layout);
                                    new
                                }
                            };
                            let kept = core::slice::from_raw_parts(new, layout.size().min(new_size));
                            prop_assert!(kept.iter().all(|b| *b == old_fill), "realloc kept the bytes");
                            core::ptr::write_bytes(new, fill, new_size);
                            live[at] = (new as usize, Layout::from_size_align(new_size, layout.align()).expect("layout"), fill);
                        }
                        _ => {}
                    }
                }
                let mut sorted = live.clone();
                sorted.sort_unstable_by_key(|(p, _, _)| *p);
                for pair in sorted.windows(2) {
                    prop_assert!(pair[0].0 + pair[0].1.size() <= pair[1].0, "overlap");
                }
                for &(p, layout, _) in &live {
                    prop_assert_eq!(p % layout.align(), 0);
                    prop_assert!(range.contains(&p) && p + layout.size() <= range.end);
                }
            }
            // Every block still live kept its bytes (the freed and moved ones were checked then).
            for &(p, layout, fill) in &live {
                // SAFETY: a live block of `layout.size()` bytes.
                let bytes = unsafe { core::slice::from_raw_parts(p as *const u8, layout.size()) };
                prop_assert!(bytes.iter().all(|b| *b == fill), "a block kept its bytes");
            }
        }
    }
}
