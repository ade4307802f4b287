// Actor keys in the runtime: identities are `actorId(record key bytes)` (exact, injective); handlers see the key
// as text through the function's key serde; a key given to send/emit becomes bytes through the target's.
import { DEFAULT_KEY_SERDE, type KeySerde } from '@dirigo/core';

/** The key as the handler sees it (`ctx.key`): '' for a null key. May throw the serde's SerdeError. */
export function keyText(serde: KeySerde, bytes: Buffer | null, id: string): string {
  if (bytes === null) return '';
  // UTF-8 keys: the identity is the text already (unless escaped: not UTF-8, or starting with U+0001).
  if (serde === DEFAULT_KEY_SERDE && id.charCodeAt(0) !== 1) return id;
  return serde.deserialize(bytes);
}

/**
 * The bytes of `key` written with `target` serde. `ctx.key` itself (same text, same serde as the running
 * function, or an egress without a key serde) keeps the record's exact bytes (null included), so an actor's
 * outputs keep its key as it came.
 */
export function keyBytesFor(
  target: KeySerde | undefined,
  key: string,
  ownSerde: KeySerde,
  ownText: string | undefined,
  ownBytes: Buffer | null,
): Buffer | null {
  // An egress without a key serde: ctx.key keeps its bytes whatever the function's serde; other text is UTF-8.
  if (target === undefined) return key === ownText ? ownBytes : DEFAULT_KEY_SERDE.serialize(key);
  if (key === ownText && (target === ownSerde || target.name === ownSerde.name)) return ownBytes;
  return target.serialize(key);
}
