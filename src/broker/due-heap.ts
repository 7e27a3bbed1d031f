/**
 * A binary min-heap of items by due time (`at`): the background refresher's
 * schedule (proactive.ts). Items are never removed from the middle; a
 * rescheduled entry pushes a new item and the stale one is skipped when it
 * comes up (its `seq` no longer matches).
 */
export class DueHeap<T extends { at: number }> {
  readonly #items: T[] = [];

  /** The earliest item, left in place; undefined when empty. */
  peek(): T | undefined {
    return this.#items[0];
  }

  push(item: T): void {
    const heap = this.#items;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((heap[parent] as T).at <= item.at) break;
      heap[i] = heap[parent] as T;
      i = parent;
    }
    heap[i] = item;
  }

  /** Removes the earliest item. */
  pop(): void {
    const heap = this.#items;
    const last = heap.pop() as T;
    if (heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let earlier = left;
      if (left >= heap.length) break;
      if (right < heap.length && (heap[right] as T).at < (heap[left] as T).at) earlier = right;
      if ((heap[earlier] as T).at >= last.at) break;
      heap[i] = heap[earlier] as T;
      i = earlier;
    }
    heap[i] = last;
  }
}
