// Public exports of @dirigo/windows: window specs, the `windowed` function builder and the session combiner.

export { type Session, sessionMerge } from './sessions.ts';
export {
  checkWindowSpec,
  type FixedWindowSpec,
  type HoppingWindows,
  hopping,
  type SessionWindows,
  session,
  slideOf,
  type TumblingWindows,
  tumbling,
  type WindowSpec,
  windowStarts,
} from './spec.ts';
export {
  isWindowClose,
  type LatePolicy,
  WINDOW_STATE,
  type WindowClose,
  type WindowedOptions,
  type WindowFaults,
  type WindowResult,
  windowed,
} from './windowed.ts';
