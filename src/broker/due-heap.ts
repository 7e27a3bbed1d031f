/** What the heap orders: a due time, and the slot the heap keeps for it (-1 while it is not in the heap). */
export interface Due {
  dueAt: number;
  heapIndex: number;
}

/**
 * A binary min-heap of items by due time, each item in it at most once: the
 * background refresher's schedule (proactive.ts). An item carries its own
 * slot, so a rescheduled item moves in place (`set`) and a dropped one is
 * taken out (`remove`). The heap used to take a new item per schedule and
 * skip the stale ones when they came up: at 100,000 links in use that left
 * 5.3 items a link behind (replans move many due times), 33 MB of the live
 * heap, measured in a heap snapshot of the bench's scale scenario.
 */
export class DueHeap<T extends Due> {
  readonly #items: T[] = [];

  /** The earliest item, left in place; undefined when empty. */
  peek(): T | undefined {
    return this.#items[0];
  }

  get size(): number {
    return this.#items.length;
  }

  /** Puts `item` at its (new) `dueAt`: inserted, or moved if already in. */
  set(item: T): void {
    const heap = this.#items;
    if (item.heapIndex < 0 || heap[item.heapIndex] !== item) {
      heap.push(item);
      this.#up(item, heap.length - 1);
      return;
    }
    const i = item.heapIndex;
    if (i > 0 && (heap[(i - 1) >> 1] as T).dueAt > item.dueAt) this.#up(item, i);
    else this.#down(item, i);
  }

  /** Takes `item` out; nothing when it is not in. */
  remove(item: T): void {
    const heap = this.#items;
    const i = item.heapIndex;
    if (i < 0 || heap[i] !== item) return;
    item.heapIndex = -1;
    const last = heap.pop() as T;
    if (i === heap.length) return;
    // The last item fills the hole, then finds its place either way.
    heap[i] = last;
    last.heapIndex = i;
    this.set(last);
  }

  /** Removes the earliest item. */
  pop(): void {
    const top = this.#items[0];
    if (top !== undefined) this.remove(top);
  }

  #up(item: T, from: number): void {
    const heap = this.#items;
    let i = from;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as T;
      if (p.dueAt <= item.dueAt) break;
      heap[i] = p;
      p.heapIndex = i;
      i = parent;
    }
    heap[i] = item;
    item.heapIndex = i;
  }

  #down(item: T, from: number): void {
    const heap = this.#items;
    let i = from;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const earlier = right < heap.length && (heap[right] as T).dueAt < (heap[left] as T).dueAt ? right : left;
      const e = heap[earlier] as T;
      if (e.dueAt >= item.dueAt) break;
      heap[i] = e;
      e.heapIndex = i;
      i = earlier;
    }
    heap[i] = item;
    item.heapIndex = i;
  }
}
