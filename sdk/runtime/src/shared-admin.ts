// One admin client per worker. `Transport.admin()` makes a client of its own at each call (with its connections),
// and the runtime asks for one in many places: topic creation, each partition it opens (position, changelog
// watermarks), each checkpoint, the control channel, and the lag sampler at every metrics scrape. Nothing closed
// them, so a worker held one more admin client per partition opened and per scrape until its transport closed. The
// worker now hands its parts this wrapper: every `admin()` is the same client, whose `close()` does nothing, and the
// worker closes it when it stops.
import type { Admin, Transport } from '@dirigo/core';

/** The admin of `SharedAdminTransport`: the shared client, with a `close()` that leaves it open. */
function unclosable(admin: Admin): Admin {
  return new Proxy(admin, {
    get(target, property) {
      if (property === 'close') return () => Promise.resolve();
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** A transport whose `admin()` is one shared client, opened on first use and closed by `closeAdmin()`. */
export class SharedAdminTransport implements Transport {
  private readonly inner: Transport;
  private shared: Promise<{ real: Admin; handed: Admin }> | undefined;
  /** How many admin clients this transport opened (tests). */
  opened = 0;

  constructor(inner: Transport) {
    this.inner = inner;
  }

  get name(): string {
    return this.inner.name;
  }

  get exactlyOnceV2(): boolean {
    return this.inner.exactlyOnceV2 === true;
  }

  async admin(): Promise<Admin> {
    if (this.shared === undefined) {
      const opening = this.inner.admin().then((real) => {
        this.opened++;
        return { real, handed: unclosable(real) };
      });
      // A failed open is not kept: the next call tries again.
      opening.catch(() => {
        if (this.shared === opening) this.shared = undefined;
      });
      this.shared = opening;
    }
    return (await this.shared).handed;
  }

  producer(options?: Parameters<Transport['producer']>[0]): ReturnType<Transport['producer']> {
    return this.inner.producer(options);
  }

  consumer(options: Parameters<Transport['consumer']>[0]): ReturnType<Transport['consumer']> {
    return this.inner.consumer(options);
  }

  readToEnd(...args: Parameters<Transport['readToEnd']>): ReturnType<Transport['readToEnd']> {
    return this.inner.readToEnd(...args);
  }

  /** Closes the shared admin client, if one is open; the next `admin()` opens another. */
  async closeAdmin(): Promise<void> {
    const shared = this.shared;
    this.shared = undefined;
    const admin = await shared?.catch(() => undefined);
    await admin?.real.close();
  }

  /** Closes the shared admin, then the transport itself. */
  async close(): Promise<void> {
    await this.closeAdmin().catch(() => {});
    await this.inner.close();
  }
}
