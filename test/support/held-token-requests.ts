/**
 * Token requests held on arrival, for timing faults: a test learns the moment
 * a request reached the fake provider (before anything is decided) and lets
 * it go on when it chooses — after it paused, killed or blocked the caller.
 */

/** A token request as it arrived, before the provider decided anything. */
export interface TokenArrival {
  /** 1-based position among all token-endpoint requests. */
  readonly index: number;
  readonly grantType: string | undefined;
  readonly presentedRefreshToken: string | undefined;
}

/**
 * A token request held on arrival (FakeProvider.holdNextTokenRequest): the
 * provider has read it but neither processed nor answered it until
 * `release()`. Lets a test pause, kill or block the caller at an exact point
 * of a refresh.
 */
export interface HeldTokenRequest {
  /** Resolves once the request has arrived (its body read). */
  readonly arrived: Promise<TokenArrival>;
  /** Resolves once its answer is written to the socket (or the client had gone). */
  readonly answered: Promise<void>;
  /** Lets it go on: it is then faulted or processed and answered as usual. */
  release(): void;
}

/** The provider's side of one hold. */
export interface HoldSlot {
  arrive(a: TokenArrival): void;
  readonly released: Promise<void>;
  answer(): void;
}

/** Holds queued by tests, taken one per arriving request in arrival order. */
export class HeldTokenRequests {
  readonly #queue: HoldSlot[] = [];
  /** Every hold not yet released, taken or not. */
  readonly #unreleased = new Set<() => void>();

  hold(): HeldTokenRequest {
    let arrive!: (a: TokenArrival) => void;
    let resolveRelease!: () => void;
    let answer!: () => void;
    const arrived = new Promise<TokenArrival>((r) => (arrive = r));
    const released = new Promise<void>((r) => (resolveRelease = r));
    const answered = new Promise<void>((r) => (answer = r));
    const release = (): void => {
      this.#unreleased.delete(release);
      resolveRelease();
    };
    this.#unreleased.add(release);
    this.#queue.push({ arrive, released, answer });
    return { arrived, answered, release };
  }

  /** The hold for the request that just arrived, if a test queued one. */
  take(): HoldSlot | undefined {
    return this.#queue.shift();
  }

  /** Lets every hold go (on close), so no handler stays pending forever. */
  releaseAll(): void {
    this.#queue.length = 0;
    for (const release of [...this.#unreleased]) release();
  }
}
